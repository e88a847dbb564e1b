package dev.slmedge.profiler.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import java.util.List;
import java.util.Map;
import org.junit.Test;

public class SamplerTest {
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
        double previous = -1;
        for (Map<String, Object> sample : memory) {
            double t = (Double) sample.get("t_ms");
            assertTrue(t >= previous);
            previous = t;
        }
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
