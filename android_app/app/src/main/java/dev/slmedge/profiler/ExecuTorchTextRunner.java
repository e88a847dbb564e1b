package dev.slmedge.profiler;

import dev.slmedge.profiler.core.TextRunner;
import java.io.File;
import org.pytorch.executorch.extension.llm.LlmCallback;
import org.pytorch.executorch.extension.llm.LlmModule;

/**
 * Mode "llm_runner": ExecuTorch's LlmModule (its C++ TextLLMRunner) end to end, greedy. LlmModule
 * sizes its own threadpool (performant cores − 1) and has no Java setting for it.
 */
final class ExecuTorchTextRunner implements TextRunner {
    private static final float GREEDY = 0.0f;
    private LlmModule module;

    @Override
    public void load(File model, File tokenizer, int threads) {
        module = new LlmModule(model.getAbsolutePath(), tokenizer.getAbsolutePath(), GREEDY);
        module.load(); // throws ExecutorchRuntimeException (executorch 1.4+) when the program cannot load
    }

    @Override
    public void reset() {
        module.resetContext();
    }

    @Override
    public String generate(String prompt, int seqLen, TokenListener listener) {
        String[] stats = {"{}"};
        module.generate(prompt, seqLen, new LlmCallback() {
            @Override
            public void onResult(String token) {
                listener.onToken(token);
            }

            @Override
            public void onStats(String json) {
                stats[0] = json;
            }
        }, false);
        return stats[0];
    }

    @Override
    public String describe() {
        return "executorch " + BuildConfig.EXECUTORCH_VERSION + " LlmModule (threads chosen by LlmModule, not the config)";
    }

    @Override
    public void close() {
        if (module != null) {
            module.close();
            module = null;
        }
    }
}
