package dev.slmedge.profiler.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static org.junit.Assume.assumeTrue;

import java.io.File;
import java.nio.file.Files;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

public class MemoryReaderTest {
    @Rule public TemporaryFolder folder = new TemporaryFolder();

    @Test
    public void parsesTheKernelsFormat() {
        String status = "Name:\tjava\nVmPeak:\t 9000 kB\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\nThreads:\t12\n";
        MemoryReader.Reading reading = MemoryReader.parse(status);
        assertEquals(102400L * 1024, reading.rssBytes());
        assertEquals(204800L * 1024, reading.hwmBytes());
    }

    @Test
    public void missingOrMalformedFieldsReadAsZero() {
        assertEquals(new MemoryReader.Reading(0, 0), MemoryReader.parse(""));
        assertEquals(new MemoryReader.Reading(0, 4096), MemoryReader.parse("VmRSS:\tlots kB\nVmHWM: 4 kB"));
        assertEquals(new MemoryReader.Reading(0, 0), MemoryReader.parse("VmRSS:\nVmHWM: -5 kB"));
        // VmRSSx is not VmRSS: only the exact field name counts
        assertEquals(0, MemoryReader.parse("VmRSSx: 7 kB").rssBytes());
    }

    @Test
    public void anUnreadableFileReadsAsZeroRatherThanFailing() {
        MemoryReader reader = new MemoryReader(new File(folder.getRoot(), "missing").toPath());
        assertEquals(new MemoryReader.Reading(0, 0), reader.read());
    }

    @Test
    public void readsThisProcess() {
        assumeTrue(MemoryReader.PROC_STATUS.toFile().canRead());
        MemoryReader.Reading reading = new MemoryReader().read();
        assertTrue(reading.rssBytes() > 0);
        assertTrue(reading.hwmBytes() >= reading.rssBytes());
    }

    @Test
    public void readsPssFromSmapsRollup() throws Exception {
        File rollup = folder.newFile("smaps_rollup");
        Files.writeString(rollup.toPath(), "00400000-ffffffff ---p 00000000 00:00 0 [rollup]\nRss:  2048 kB\nPss:  1024 kB\n");
        assertEquals(Long.valueOf(1024L * 1024), MemoryReader.readPss(rollup.toPath()));
        assertEquals(null, MemoryReader.readPss(new File(folder.getRoot(), "none").toPath()));
    }
}
