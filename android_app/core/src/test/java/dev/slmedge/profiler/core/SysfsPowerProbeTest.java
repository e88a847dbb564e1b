package dev.slmedge.profiler.core;

import static org.junit.Assert.assertEquals;

import java.io.File;
import java.nio.file.Files;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

/** Known answers for the desktop's power readings, in the tree the emulated device's script writes. */
public class SysfsPowerProbeTest {
    @Rule public TemporaryFolder folder = new TemporaryFolder();

    private void write(String path, Object value) throws Exception {
        File file = new File(folder.getRoot(), "sys/" + path);
        file.getParentFile().mkdirs();
        Files.writeString(file.toPath(), value + "\n");
    }

    private Map<String, Object> read() {
        Map<String, Object> sample = new LinkedHashMap<>();
        new SysfsPowerProbe(new File(folder.getRoot(), "sys")).addTo(sample);
        return sample;
    }

    /** slm_edge/testing/scripted_sysfs.py's supplies: a battery and a USB port. */
    private void scripted(String status, int usbOnline) throws Exception {
        write("class/power_supply/battery/type", "Battery");
        write("class/power_supply/battery/status", status);
        write("class/power_supply/battery/current_now", -1_500_000);
        write("class/power_supply/battery/voltage_now", 4_000_000);
        write("class/power_supply/usb/type", "USB");
        write("class/power_supply/usb/online", usbOnline);
    }

    @Test
    public void aDischargingBatteryGivesCurrentVoltageAndNotPlugged() throws Exception {
        scripted("Discharging", 0);
        Map<String, Object> expected = new HashMap<>();
        expected.put("battery_current_ua", -1_500_000L);
        expected.put("battery_voltage_mv", 4000.0);
        expected.put("plugged", false);
        assertEquals(expected, read());
    }

    @Test
    public void chargingOrAnOnlineSupplyMeansPlugged() throws Exception {
        scripted("Charging", 0);
        assertEquals(true, read().get("plugged"));
        scripted("Discharging", 1);
        assertEquals(true, read().get("plugged"));
        scripted("Not charging", 0);
        assertEquals(true, read().get("plugged"));
    }

    @Test
    public void nothingReadableLeavesEveryKeyOut() throws Exception {
        assertEquals(Map.of(), read());
        write("class/power_supply/AC/type", "Mains"); // no online file: plugged stays unknown
        assertEquals(Map.of(), read());
    }

    @Test
    public void raplAndHwmonAsTheRunnerReadsThem() throws Exception {
        write("class/powercap/intel-rapl:0/energy_uj", 123456789);
        write("class/powercap/intel-rapl:0/max_energy_range_uj", 262143328850L);
        write("class/hwmon/hwmon1/power1_input", 7_500_000);
        write("class/hwmon/hwmon0/temp1_input", 45000); // no power input: not this one
        Map<String, Object> expected = new HashMap<>();
        expected.put("rapl_energy_uj", 123456789L);
        expected.put("rapl_range_uj", 262143328850L);
        expected.put("hwmon_power_uw", 7_500_000L);
        assertEquals(expected, read());
    }
}
