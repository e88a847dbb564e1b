package dev.slmedge.profiler.core;

import java.util.Map;

/**
 * Hears each phase as the loop enters it (phase=load threads=2, phase=run run=3 ...): on Android
 * an instrumentation status block, on a desktop JVM an `slm-edge-status` line like the runner's.
 */
public interface StatusListener {
    void status(Map<String, String> fields);
}
