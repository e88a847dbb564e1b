package dev.slmedge.profiler.core;

import com.google.gson.JsonObject;
import java.io.File;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The config's "ops": separate from the timed runs (tracing costs time), one prefill of the longest
 * prompt and the decode steps with the runtime's profiler on, kernel time grouped by op category.
 */
final class OpProfileRun {
    private final RunConfig config;
    private final File artifactDir;
    private final JsonObject manifest;
    private final int threads;
    private final Sampler sampler;
    private final TraceWriter writer;
    private final EngineFactory engines;

    OpProfileRun(RunConfig config, File artifactDir, JsonObject manifest, int threads, Sampler sampler,
                 TraceWriter writer, EngineFactory engines) {
        this.config = config;
        this.artifactDir = artifactDir;
        this.manifest = manifest;
        this.threads = threads;
        this.sampler = sampler;
        this.writer = writer;
        this.engines = engines;
    }

    void run() throws Exception {
        File profileDir = writer.file().getAbsoluteFile().getParentFile();
        OpProfilingEngine engine = engines.createOpProfiling(config.artifact.engine, profileDir);
        if (engine == null) {
            writer.addError("ops", "per-op profiling is not available for engine " + config.artifact.engine
                    + " in " + engines.implementation(), null);
            return;
        }
        File profile;
        List<Double> stepsUs;
        int promptLength = java.util.Collections.max(config.promptLengths);
        try (engine) {
            engine.load(artifactDir, manifest, threads);
            int[] prompt = PromptGenerator.prompt(promptLength, config.artifact.vocabSize, config.seed);
            sampler.mark("ops", "start", null);
            int token = Greedy.argmax(engine.step(prompt, 0));
            stepsUs = ProfileLoop.decode(engine, token, prompt.length, config.decodeTokens);
            sampler.mark("ops", "end", null);
            profile = new File(engine.endProfiling());
        }
        Map<String, Object> phases;
        try {
            phases = OrtProfileSummary.summarizePhases(OrtProfileSummary.parse(profile));
        } finally {
            profile.delete(); // megabytes per run; the summary is what the report uses
        }
        Map<String, Object> entry = new LinkedHashMap<>();
        entry.put("engine", config.artifact.engine);
        entry.put("threads", threads);
        entry.put("prompt_length", promptLength);
        entry.put("decode_step_us_traced", stepsUs);
        entry.put("phases", phases);
        writer.appendOpProfile(entry);
    }
}
