package dev.slmedge.profiler.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;

import java.io.File;
import java.nio.file.Files;
import java.util.List;
import java.util.Map;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

public class SamplerTest {
    @Rule public TemporaryFolder folder = new TemporaryFolder();

    @Test
    public void samplesOnItsThreadAndAtEveryBoundary() throws Exception {
        Sampler sampler = new Sampler(System.nanoTime(), 2.0, true, new MemoryReader(), new CpuReader(),
                new DesktopPlatform(new CpuReader()));
        sampler.start();
        sampler.mark("decode", "start", 4);
        Thread.sleep(60);
        sampler.mark("decode", "end", 4);
        sampler.stop();
        List<List<Map<String, Object>>> snapshot = sampler.snapshot();
        List<Map<String, Object>> memory = snapshot.get(0);
        assertTrue("sampled " + memory.size(), memory.size() >= 5);
        assertTrue(memory.stream().anyMatch(s -> "decode".equals(s.get("phase"))));
        // only the end boundary reads PSS (the sampler thread may add samples after it)
        assertEquals(1, memory.stream().filter(sample -> sample.containsKey("pss_bytes")).count());
        assertEquals(2, snapshot.get(2).size());
        assertEquals(4, snapshot.get(2).get(0).get("run"));
        assertTrue(snapshot.get(1).size() >= 2); // CPU at start and stop at least
        if (ThreadPlacement.TASKS.isDirectory()) { // each CPU sample says where this process's threads ran
            assertTrue(snapshot.get(1).stream().allMatch(sample -> sample.get("thread_cores") instanceof Map));
        }
        double previous = -1;
        for (Map<String, Object> sample : memory) {
            double t = (Double) sample.get("t_ms");
            assertTrue(t >= previous);
            previous = t;
        }
    }

    @Test
    public void aCpuSampleIsReturnedAndKeptAndTheFirstIsTheRunsStart() throws Exception {
        File thermal = folder.newFolder("thermal");
        File zone = new File(thermal, "thermal_zone0");
        zone.mkdirs();
        Files.writeString(new File(zone, "temp").toPath(), "47000\n");
        CpuReader cpu = new CpuReader(folder.newFolder("cpu"), thermal);
        Sampler sampler = new Sampler(System.nanoTime(), 50.0, false, new MemoryReader(), cpu, new DesktopPlatform(cpu));
        assertNull(sampler.firstCpuSample());
        sampler.start();
        Files.writeString(new File(zone, "temp").toPath(), "39500\n");
        Map<String, Object> sample = sampler.sampleCpu();
        assertEquals(39.5, (Double) sample.get("temp_c"), 0);
        assertEquals(47.0, (Double) sampler.firstCpuSample().get("temp_c"), 0);
        List<Map<String, Object>> kept = sampler.snapshot().get(1);
        assertEquals(2, kept.size());
        assertEquals(sample, kept.get(1));
    }

    @Test
    public void disabledSamplingStillSamplesBoundaries() {
        Sampler sampler = new Sampler(System.nanoTime(), 1.0, false, new MemoryReader(), new CpuReader(),
                new DesktopPlatform(new CpuReader()));
        sampler.start();
        sampler.mark("load", "start", null);
        sampler.mark("load", "end", null);
        sampler.stop();
        assertEquals(2, sampler.snapshot().get(0).size());
    }
}
