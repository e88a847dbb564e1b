package dev.slmedge.profiler;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import dev.slmedge.profiler.core.Engine;
import dev.slmedge.profiler.core.ForwardChunks;
import java.io.File;
import java.util.Arrays;
import java.util.List;
import org.pytorch.executorch.EValue;
import org.pytorch.executorch.Module;
import org.pytorch.executorch.Tensor;

/**
 * An LLM .pte on ExecuTorch's Module: input 0 is tokens [1, n], input 1 the start position [1]
 * (executorch's fast path, custom SDPA with the KV cache inside the program) or one cache position
 * per token [n] (transformers' exportable wrapper), as slm_edge/runtime/executorch_llm.py feeds them.
 *
 * <p>One forward takes at most the program's get_max_seq_len tokens (executorch's convention; a program
 * with ring caches has it below get_max_context_len): a longer prompt is fed in consecutive forwards of at
 * most that many, as executorch's C++ runner and EtLlm._chunks feed it ({@link ForwardChunks}).
 */
final class ExecuTorchEngine implements Engine {
    private Module module;
    private boolean takesStartPos;
    private int threads;
    private int chunk; // the most tokens one forward takes; 0: unknown (one forward, whatever its length)

    @Override
    public void load(File artifactDir, JsonObject manifest, int threads) throws Exception {
        File pte = new File(artifactDir, manifest.get("model_file").getAsString());
        this.threads = threads;
        // numThreads resizes ExecuTorch's process-wide threadpool, which XNNPACK runs on.
        module = Module.load(pte.getAbsolutePath(), Module.LOAD_MODE_MMAP, threads);
        module.loadMethod("forward"); // load and plan now, so the first timed step does not pay for it
        takesStartPos = usesSdpaWithKvCache(manifest);
        chunk = forwardChunk(manifest);
    }

    /**
     * The most tokens one forward takes: the manifest's runtime.metadata.get_max_seq_len (or its
     * kv_cache.max_chunk), else the program's own constant method, as usesSdpaWithKvCache asks it; 0 when
     * neither says (older programs: one forward takes the whole context).
     */
    private int forwardChunk(JsonObject manifest) {
        Integer recorded = ForwardChunks.fromManifest(manifest);
        if (recorded != null) {
            return recorded;
        }
        if (Arrays.asList(module.getMethods()).contains("get_max_seq_len")) {
            EValue[] value = module.execute("get_max_seq_len");
            if (value.length == 1 && value[0].isInt() && value[0].toInt() > 0) {
                return (int) Math.min(value[0].toInt(), Integer.MAX_VALUE);
            }
        }
        return 0;
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

    /**
     * The logits after the last token: a prompt longer than the chunk goes in consecutive forwards at
     * positions startPos, startPos + chunk, ... (the cache keeps what each fed), and the last forward's last
     * position is returned. A program that returns every position's logits ([1, n, vocab], exported with
     * full_logits) gives its rows per forward; nothing here needs more than the last: eval mode
     * (ProfileLoop.score) feeds one token per step, so each step's logits are that token's.
     */
    @Override
    public float[] step(int[] tokens, int startPos) {
        if (tokens.length == 0) {
            throw new IllegalArgumentException("no tokens to feed at position " + startPos);
        }
        List<int[]> pieces = ForwardChunks.split(startPos, startPos + tokens.length, chunk);
        float[] logits = null;
        for (int i = 0; i < pieces.size(); i++) {
            int[] piece = pieces.get(i);
            logits = forward(tokens, piece[0] - startPos, piece[1] - startPos, piece[0], i == pieces.size() - 1);
        }
        return logits;
    }

    /**
     * One forward of tokens[from, to) at position `position`; the logits of its last position when `last`,
     * else null (an earlier chunk's logits are never copied into Java: the C++ runner skips them too).
     */
    private float[] forward(int[] tokens, int from, int to, int position, boolean last) {
        int n = to - from;
        long[] ids = new long[n];
        for (int i = 0; i < n; i++) {
            ids[i] = tokens[from + i];
        }
        Tensor input = Tensor.fromBlob(ids, new long[] {1, n});
        Tensor positions;
        if (takesStartPos) {
            positions = Tensor.fromBlob(new long[] {position}, new long[] {1});
        } else {
            long[] each = new long[n];
            for (int i = 0; i < n; i++) {
                each[i] = position + i;
            }
            positions = Tensor.fromBlob(each, new long[] {n});
        }
        Tensor logits = module.forward(EValue.from(input), EValue.from(positions))[0].toTensor();
        if (!last) {
            return null;
        }
        float[] data = logits.getDataAsFloatArray(); // one vocabulary-sized copy into Java per step
        long[] shape = logits.shape();
        int vocab = (int) shape[shape.length - 1];
        // [1, vocab] (fast path), [1, 1, vocab] (generic path), [1, n, vocab] (artifacts that return every position)
        return data.length == vocab ? data : Arrays.copyOfRange(data, data.length - vocab, data.length);
    }

    @Override
    public String describe() {
        return "executorch " + BuildConfig.EXECUTORCH_VERSION + " Module (XNNPACK threadpool " + threads + ", "
                + (takesStartPos ? "start_pos" : "cache_position") + " input"
                + (chunk > 0 ? ", at most " + chunk + " tokens a forward" : "") + ")";
    }

    @Override
    public void close() {
        if (module != null) {
            module.destroy();
            module = null;
        }
    }
}
