package dev.slmedge.profiler.core;

import static org.junit.Assert.assertEquals;

import org.junit.Test;

public class ContractTest {
    @Test
    public void namesAreBuiltFromThePackage() {
        assertEquals("dev.slmedge.profiler/.ProfilerInstrumentation", Contract.INSTRUMENTATION);
        assertEquals("/sdcard/Android/data/dev.slmedge.profiler/files/runs/r7", Contract.traceDir("r7"));
        assertEquals("dev.slmedge.profiler", Contract.constants().get("PACKAGE"));
    }
}
