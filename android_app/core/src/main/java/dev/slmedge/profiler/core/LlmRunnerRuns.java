package dev.slmedge.profiler.core;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.File;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;

/**
 * Mode "llm_runner": ExecuTorch's own text runner end to end, as the Linux runner's
 * _llm_runner_runs. Per-token times come from our token callback's nanoTime stamps; the runner's
 * stats JSON (wall-clock milliseconds) is kept as it is. It stops at EOS, so decode can be shorter.
 */
final class LlmRunnerRuns {
    private final RunConfig config;
    private final File artifactDir;
    private final int threads;
    private final Sampler sampler;
    private final TraceWriter writer;
    private final MemoryReader memoryReader;
    private final EngineFactory engines;

    LlmRunnerRuns(RunConfig config, File artifactDir, int threads, Sampler sampler, TraceWriter writer,
                  MemoryReader memoryReader, EngineFactory engines) {
        this.config = config;
        this.artifactDir = artifactDir;
        this.threads = threads;
        this.sampler = sampler;
        this.writer = writer;
        this.memoryReader = memoryReader;
        this.engines = engines;
    }

    void run() throws Exception {
        if (config.artifact.tokenizerFile == null) {
            throw new ProfileLoop.ProfileException("mode llm_runner needs the artifact's tokenizer (artifact.tokenizer_file is null)");
        }
        TextRunner runner = engines.createTextRunner();
        if (runner == null) {
            throw new ProfileLoop.ProfileException("mode llm_runner needs ExecuTorch's LlmModule, which this build ("
                    + engines.implementation() + ") does not have");
        }
        try (runner) {
            sampler.mark("load", "start", null);
            long start = System.nanoTime();
            runner.load(new File(artifactDir, config.artifact.modelFile), new File(artifactDir, config.artifact.tokenizerFile),
                    threads);
            double loadMs = (System.nanoTime() - start) / 1e6;
            sampler.mark("load", "end", null);
            writer.addLoad(threads, loadMs, memoryReader.read().rssBytes(), runner.describe());
            if (config.cpus != null) { // LlmModule's threadpool, made by the load, inherited the process's mask
                CpuPinning.checkStillPinned(config.cpus, new ThreadPlacement());
            }
            for (int promptLength : config.promptLengths) {
                // ~1 token per repeated word; the stats say how many tokens the prompt really was
                String text = String.join(" ", Collections.nCopies(Math.max(promptLength - 1, 1), "hello"));
                int seqLen = seqLen(promptLength, config.decodeTokens, config.artifact.maxSeqLen);
                for (int index = 0; index < config.warmup + config.repeats; index++) {
                    writer.runs().add(oneGeneration(runner, text, seqLen, promptLength, index));
                    writer.flush(sampler, null);
                }
            }
        }
    }

    /**
     * The one sequence length both runners give TextLLMRunner for a config, so one config means one
     * run (slm_edge/runner/loop.py's llm_runner_seq_len is the same rule; the tests share their cases).
     * LlmModule.generate can pass only seqLen: its JNI builds GenerationConfig{echo, seq_len,
     * temperature, num_bos, num_eos} and LlmGenerationConfig.maxNewTokens never reaches it
     * (executorch extension/android/jni/jni_layer_llama.cpp, LlmModule.kt). With max_new_tokens
     * unset, GenerationConfig::resolve_max_new_tokens (extension/llm/runner/irunner.h) gives
     * min(seq_len, max_context_len) - the prompt's tokens, and TextLLMRunner::generate emits that
     * many tokens: the first from prefill, then one decode step each (text_llm_runner.cpp).
     * So with the prompt at its nominal length, decode_tokens tokens come out, EOS permitting.
     */
    static int seqLen(int promptLength, int decodeTokens, int maxSeqLen) {
        return Math.min(maxSeqLen, promptLength + decodeTokens);
    }

    private Map<String, Object> oneGeneration(TextRunner runner, String text, int seqLen, int promptLength, int index)
            throws Exception {
        int run = writer.runs().size();
        List<Long> stamps = new ArrayList<>();
        runner.reset();
        sampler.mark("generate", "start", run);
        long t0 = System.nanoTime();
        String statsJson = runner.generate(text, seqLen, piece -> stamps.add(System.nanoTime()));
        sampler.mark("generate", "end", run);
        JsonObject stats = parseStats(statsJson);
        // the runner gives no boundary between prefill and decode: the end reading stands for both
        MemoryReader.Reading end = memoryReader.read();
        Map<String, Object> memory = TraceWriter.runMemory(end.rssBytes(), end, null);
        List<Double> stepsUs = new ArrayList<>();
        for (int i = 1; i < stamps.size(); i++) {
            stepsUs.add((stamps.get(i) - stamps.get(i - 1)) / 1e3);
        }
        // The first token comes out of prefill: prefill time and TTFT are the same on our clock.
        double firstTokenMs = stamps.isEmpty() ? 0.0 : (stamps.get(0) - t0) / 1e6;
        Map<String, Object> record = TraceWriter.runRecord(threads, promptLength, index, config.warmup);
        record.put("start_ms", (t0 - sampler.originNs()) / 1e6);
        record.put("prompt_tokens_actual", promptTokens(stats));
        record.put("prefill_ms", firstTokenMs);
        record.put("ttft_ms", firstTokenMs);
        record.put("decode_step_us", stepsUs);
        record.put("memory", memory);
        record.put("llm_runner_seq_len", seqLen);
        record.put("llm_runner_stats", stats);
        return record;
    }

    private static int promptTokens(JsonObject stats) {
        JsonElement value = stats.get("prompt_tokens");
        return value != null && value.isJsonPrimitive() && value.getAsJsonPrimitive().isNumber()
                ? Math.max(0, value.getAsInt()) : 0;
    }

    private static JsonObject parseStats(String json) {
        try {
            JsonElement parsed = JsonParser.parseString(json == null ? "{}" : json);
            return parsed.isJsonObject() ? parsed.getAsJsonObject() : new JsonObject();
        } catch (RuntimeException e) {
            return new JsonObject(); // stats are a bonus: a malformed string must not lose the timings
        }
    }
}
