package dev.slmedge.profiler.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;

import java.io.File;
import java.nio.file.Files;
import java.util.Arrays;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

public class CpuReaderTest {
    @Rule public TemporaryFolder folder = new TemporaryFolder();

    private void write(String path, String text) throws Exception {
        File file = new File(folder.getRoot(), path);
        file.getParentFile().mkdirs();
        Files.writeString(file.toPath(), text);
    }

    @Test
    public void readsCoresInNumericOrderWithNullForUnreadableOnes() throws Exception {
        write("cpu/cpu0/cpufreq/scaling_cur_freq", "1800000\n");
        write("cpu/cpu10/cpufreq/scaling_cur_freq", "2400000\n");
        write("cpu/cpu2/cpufreq/scaling_cur_freq", "garbage");
        new File(folder.getRoot(), "cpu/cpufreq").mkdirs(); // not a core
        CpuReader reader = new CpuReader(new File(folder.getRoot(), "cpu"), new File(folder.getRoot(), "thermal"));
        assertEquals(Arrays.asList(1800000L, null, 2400000L), reader.currentFrequenciesKhz());
        assertEquals(3, reader.coreCount());
        assertNull(reader.maxFrequenciesKhz());
        assertNull(reader.temperatureC());
    }

    @Test
    public void sysfsIsReadUnderTheRootTheEnvironmentNames() {
        // SLM_EDGE_SYSFS_ROOT as the Linux runner's sysfs(): ROOT/sys/..., unset (a phone) or empty: /sys
        assertEquals(new File("/sys"), CpuReader.sysfsRoot(null));
        assertEquals(new File("/sys"), CpuReader.sysfsRoot(""));
        assertEquals(new File("/tmp/scripted/sys"), CpuReader.sysfsRoot("/tmp/scripted"));
        String root = System.getenv(CpuReader.SYSFS_ROOT_ENV);
        assertEquals(new File(CpuReader.sysfsRoot(root), "class/thermal"), CpuReader.sysfs("class/thermal"));
    }

    @Test
    public void temperatureIsTheHottestZone() throws Exception {
        write("thermal/thermal_zone0/temp", "41000");
        write("thermal/thermal_zone1/temp", "57500\n");
        CpuReader reader = new CpuReader(new File(folder.getRoot(), "cpu"), new File(folder.getRoot(), "thermal"));
        assertEquals(57.5, reader.temperatureC(), 1e-9);
        assertNull(reader.currentFrequenciesKhz());
    }
}
