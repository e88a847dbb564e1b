package dev.slmedge.profiler;

import dev.slmedge.profiler.core.Engine;
import dev.slmedge.profiler.core.EngineFactory;
import dev.slmedge.profiler.core.OpProfilingEngine;
import dev.slmedge.profiler.core.ProfileLoop;
import dev.slmedge.profiler.core.TextRunner;
import dev.slmedge.profiler.onnx.OrtEngine;
import java.io.File;

/** The runtimes this APK links: ExecuTorch (Module, LlmModule) and onnxruntime-android. */
final class AndroidEngineFactory implements EngineFactory {
    /** For OrtEngine.describe(): which onnxruntime build ran (the desktop JVM says "desktop JVM"). */
    private static final String PLATFORM = "onnxruntime-android";

    @Override
    public Engine create(String engine) throws Exception {
        switch (engine) {
            case "executorch":
                return new ExecuTorchEngine();
            case "onnxruntime":
                return new OrtEngine(null, PLATFORM);
            default:
                // onnxruntime-genai's AAR is not on Maven, and its Java Tensor gives no access to the
                // logits our per-step loop needs: ONNX artifacts run on plain onnxruntime here.
                throw new ProfileLoop.ProfileException("engine " + engine + " is not in this app; profile the ONNX "
                        + "artifact with --engine onnxruntime (the same graph, our own KV-cache loop)");
        }
    }

    @Override
    public OpProfilingEngine createOpProfiling(String engine, File profileDir) {
        // ExecuTorch's per-op ETDump needs an AAR built with EXECUTORCH_ANDROID_PROFILING (README.md)
        return "onnxruntime".equals(engine) ? new OrtEngine(new File(profileDir, "ort-profile").getAbsolutePath(), PLATFORM) : null;
    }

    @Override
    public TextRunner createTextRunner() {
        return new ExecuTorchTextRunner();
    }

    @Override
    public String implementation() {
        return "android app " + BuildConfig.VERSION_NAME;
    }
}
