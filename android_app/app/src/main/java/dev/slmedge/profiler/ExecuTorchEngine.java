package dev.slmedge.profiler;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import dev.slmedge.profiler.core.Engine;
import java.io.File;
import java.util.Arrays;
import org.pytorch.executorch.EValue;
import org.pytorch.executorch.Module;
import org.pytorch.executorch.Tensor;

/**
 * An LLM .pte on ExecuTorch's Module: input 0 is tokens [1, n], input 1 the start position [1]
 * (executorch's fast path, custom SDPA with the KV cache inside the program) or one cache position
 * per token [n] (transformers' exportable wrapper), as slm_edge/runtime/executorch_llm.py feeds them.
 */
final class ExecuTorchEngine implements Engine {
    private Module module;
    private boolean takesStartPos;
    private int threads;

    @Override
    public void load(File artifactDir, JsonObject manifest, int threads) throws Exception {
        File pte = new File(artifactDir, manifest.get("model_file").getAsString());
        this.threads = threads;
        // numThreads resizes ExecuTorch's process-wide threadpool, which XNNPACK runs on.
        module = Module.load(pte.getAbsolutePath(), Module.LOAD_MODE_MMAP, threads);
        module.loadMethod("forward"); // load and plan now, so the first timed step does not pay for it
        takesStartPos = usesSdpaWithKvCache(manifest);
    }

    /** Fast-path programs say so in their metadata (recorded in the manifest, else asked). */
    private boolean usesSdpaWithKvCache(JsonObject manifest) {
        JsonElement runtime = manifest.get("runtime");
        if (runtime != null && runtime.isJsonObject() && runtime.getAsJsonObject().has("metadata")) {
            JsonElement value = runtime.getAsJsonObject().getAsJsonObject("metadata").get("use_sdpa_with_kv_cache");
            if (value != null && value.isJsonPrimitive()) {
                return value.getAsBoolean();
            }
        }
        if (Arrays.asList(module.getMethods()).contains("use_sdpa_with_kv_cache")) {
            return module.execute("use_sdpa_with_kv_cache")[0].toBool();
        }
        return false;
    }

    @Override
    public float[] step(int[] tokens, int startPos) {
        long[] ids = new long[tokens.length];
        for (int i = 0; i < tokens.length; i++) {
            ids[i] = tokens[i];
        }
        Tensor input = Tensor.fromBlob(ids, new long[] {1, tokens.length});
        Tensor position;
        if (takesStartPos) {
            position = Tensor.fromBlob(new long[] {startPos}, new long[] {1});
        } else {
            long[] positions = new long[tokens.length];
            for (int i = 0; i < tokens.length; i++) {
                positions[i] = startPos + i;
            }
            position = Tensor.fromBlob(positions, new long[] {tokens.length});
        }
        Tensor logits = module.forward(EValue.from(input), EValue.from(position))[0].toTensor();
        float[] data = logits.getDataAsFloatArray(); // one vocabulary-sized copy into Java per step
        long[] shape = logits.shape();
        int vocab = (int) shape[shape.length - 1];
        // [1, vocab] (fast path), [1, 1, vocab] (generic path), [1, n, vocab] (artifacts that return every position)
        return data.length == vocab ? data : Arrays.copyOfRange(data, data.length - vocab, data.length);
    }

    @Override
    public String describe() {
        return "executorch " + BuildConfig.EXECUTORCH_VERSION + " Module (XNNPACK threadpool " + threads + ", "
                + (takesStartPos ? "start_pos" : "cache_position") + " input)";
    }

    @Override
    public void close() {
        if (module != null) {
            module.destroy();
            module = null;
        }
    }
}
