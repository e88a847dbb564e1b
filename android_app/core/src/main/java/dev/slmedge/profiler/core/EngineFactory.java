package dev.slmedge.profiler.core;

import java.io.File;

/** Makes engines by the run config's artifact.engine; the platform decides which exist. */
public interface EngineFactory {
    /** A fresh engine, not yet loaded; throws with a one-line reason when the engine is unsupported. */
    Engine create(String engine) throws Exception;

    /**
     * An engine that records per-op timing (the config's "ops"), or null when this engine cannot:
     * the loop then records why in the trace's errors.
     */
    default OpProfilingEngine createOpProfiling(String engine, File profileDir) throws Exception {
        return null;
    }

    /** The executorch LLM runner for mode "llm_runner", or null where there is none. */
    default TextRunner createTextRunner() {
        return null;
    }

    /** What create() runs: for the trace, so a desktop check is never mistaken for a device run. */
    default String implementation() {
        return "native";
    }

    /**
     * A class that may be absent from this classpath, or null: the desktop JVM looks the onnx module
     * up by name, so the core keeps no runtime dependency. Not initialized here (onnxruntime's
     * classes load their native library when initialized).
     */
    static Class<?> optionalClass(String className) {
        try {
            return Class.forName(className, false, EngineFactory.class.getClassLoader());
        } catch (ClassNotFoundException | LinkageError e) {
            return null;
        }
    }
}
