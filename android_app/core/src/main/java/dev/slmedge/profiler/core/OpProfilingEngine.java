package dev.slmedge.profiler.core;

/** An engine whose runtime profiler is on: after the traced steps it hands back the profile file. */
public interface OpProfilingEngine extends Engine {
    /** Stop profiling; the path of the runtime's profile (onnxruntime: Chrome-trace JSON). */
    String endProfiling() throws Exception;
}
