package dev.slmedge.profiler.core;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.File;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The profiling run, as slm_edge/runner/loop.py does it on Linux: for each thread count load the model;
 * for each prompt length, warm-up then measured repeats of one prefill of N tokens followed by
 * one-token greedy decode steps, each timed with System.nanoTime. Memory is sampled on a thread and
 * at every phase boundary; the trace is rewritten after every repeat. Any failure, even an
 * OutOfMemoryError, ends the run with what was measured kept and the error recorded.
 *
 * <p>Mode eval scores given tokens instead (teacher forcing): one load, then for each chunk a new
 * sequence fed one token per step, recording log_softmax(logits)[next token] and the argmax after each.
 *
 * <p>Mode sustained decodes without a pause for sustained_s seconds at the first thread count: the first
 * prompt length prefilled, greedy steps until the context is full, then the same prompt again (a segment
 * each). With a cooldown in the config, each measured repeat (and the sustained run) first waits until
 * the device is cool again ({@link Cooldown}). With unplug_wait, the run first waits until the device runs
 * on battery ({@link UnplugGate}); with cpus, the whole process is pinned to those cores before anything
 * loads ({@link CpuPinning}), and given its cores back when the run ends.
 */
public final class ProfileLoop {
    /** How often a sustained run rewrites its trace (the Linux runner's SUSTAINED_FLUSH_S). */
    static final long SUSTAINED_FLUSH_NS = 5_000_000_000L;

    /** How the run ended: the host reads these as the instrumentation result. */
    public record Outcome(String status, File trace, String sha256, String error) {
        public boolean complete() {
            return TraceWriter.COMPLETE.equals(status);
        }
    }

    private final RunConfig config;
    private final File configFile;
    private final File traceDir;
    private final EngineFactory engines;
    private final Platform platform;
    private final StatusListener listener;
    private final MemoryReader memoryReader;
    private final CpuReader cpuReader;

    private String phase = "setup";
    private Integer runIndex;
    private Cooldown.Clock cooldownClock = Cooldown.SYSTEM;
    private Double startTempC; // the first CPU sample's temperature: cooldown's within_c counts from it
    private CpuPinning.Pinned pinned; // the run config's cpus, once applied

    public ProfileLoop(RunConfig config, File configFile, File traceDir, EngineFactory engines, Platform platform,
                       StatusListener listener) {
        this(config, configFile, traceDir, engines, platform, listener, new MemoryReader(), new CpuReader());
    }

    public ProfileLoop(RunConfig config, File configFile, File traceDir, EngineFactory engines, Platform platform,
                       StatusListener listener, MemoryReader memoryReader, CpuReader cpuReader) {
        this.config = config;
        this.configFile = configFile;
        this.traceDir = traceDir;
        this.engines = engines;
        this.platform = platform;
        this.listener = listener;
        this.memoryReader = memoryReader;
        this.cpuReader = cpuReader;
    }

    /** The clock the cool-down and unplug gates wait on (tests pass one that only moves when slept on). */
    ProfileLoop withCooldownClock(Cooldown.Clock clock) {
        this.cooldownClock = clock;
        return this;
    }

    public Outcome run() {
        try {
            return measureAndWrite();
        } finally {
            if (pinned != null) {
                pinned.restore(); // best effort: the process may live on (manual runs, a test JVM)
                pinned = null;
            }
        }
    }

    private Outcome measureAndWrite() {
        long originNs = System.nanoTime();
        TraceWriter writer = new TraceWriter(new File(traceDir, config.traceFile), config, platform,
                memoryReader.read(), platform.pssBytes(), originNs);
        writer.software().put("engine_implementation", engines.implementation());
        Sampler sampler = new Sampler(originNs, config.sampleIntervalMs, config.memorySampling, memoryReader,
                cpuReader, platform);
        sampler.start();
        Map<String, Object> firstCpu = sampler.firstCpuSample();
        startTempC = firstCpu == null ? null : Cooldown.temperatureOf(firstCpu);
        try {
            writer.flush(sampler, null); // a trace exists from the start: the host sees "running"
            measure(writer, sampler);
            sampler.stop();
            String status = writer.errors().isEmpty() ? TraceWriter.COMPLETE : TraceWriter.INCOMPLETE;
            String sha = writer.flush(sampler, status);
            return new Outcome(status, writer.file(), sha, firstError(writer));
        } catch (Throwable failure) { // anything, even OutOfMemoryError: keep what was measured
            writer.addError(phase, describe(failure), runIndex);
            sampler.stop();
            String status = writer.measuredNothing() ? TraceWriter.FAILED : TraceWriter.INCOMPLETE;
            try {
                return new Outcome(status, writer.file(), writer.flush(sampler, status), firstError(writer));
            } catch (IOException | RuntimeException writeFailure) {
                return new Outcome(TraceWriter.FAILED, writer.file(), null,
                        describe(failure) + "; and the trace could not be written: " + describe(writeFailure));
            }
        }
    }

    private void measure(TraceWriter writer, Sampler sampler) throws Exception {
        unplugWait(writer, sampler);
        if (config.evalChunks != null && config.longestSequence() > config.artifact.maxSeqLen) {
            throw new ProfileException("eval chunk of " + config.longestSequence() + " tokens exceeds the artifact's "
                    + "max sequence length " + config.artifact.maxSeqLen
                    + " (use shorter chunks or re-export with a larger --max-seq-len)");
        }
        if (config.sustained() && config.longestSequence() > config.artifact.maxSeqLen) {
            throw new ProfileException("a sustained run's prompt of " + config.promptLengths.get(0) + " tokens leaves "
                    + "no room to decode in the artifact's max sequence length " + config.artifact.maxSeqLen
                    + " (use a shorter prompt length or re-export with a larger --max-seq-len)");
        }
        if (config.longestSequence() > config.artifact.maxSeqLen) {
            throw new ProfileException("prompt " + Collections.max(config.promptLengths) + " + decode "
                    + config.decodeTokens + " tokens exceed the artifact's max sequence length "
                    + config.artifact.maxSeqLen + " (use shorter lengths or re-export with a larger --max-seq-len)");
        }
        if (config.cpus != null) {
            pin(writer, sampler);
        }
        File artifactDir = config.artifactDir(configFile);
        JsonObject manifest = Manifests.read(artifactDir, config.artifact.manifestSha256);
        if (config.evalChunks != null) {
            evaluate(artifactDir, manifest, config.threads.get(0), sampler, writer);
            return;
        }
        if (config.sustained()) {
            sustained(artifactDir, manifest, config.threads.get(0), sampler, writer);
            return;
        }
        for (int threads : config.threads) {
            if ("llm_runner".equals(config.mode)) {
                phase = "llm_runner";
                status("phase", phase, "threads", threads);
                new LlmRunnerRuns(config, artifactDir, threads, sampler, writer, memoryReader, engines).run();
                continue;
            }
            try (Engine engine = load(artifactDir, manifest, threads, sampler, writer)) {
                for (int promptLength : config.promptLengths) {
                    int[] prompt = PromptGenerator.prompt(promptLength, config.artifact.vocabSize, config.seed);
                    for (int index = 0; index < config.warmup + config.repeats; index++) {
                        Map<String, Object> record = TraceWriter.runRecord(threads, promptLength, index, config.warmup);
                        runIndex = writer.runs().size();
                        Map<String, Object> gate = index < config.warmup ? null : cooldown(sampler, runIndex);
                        phase = "prefill";
                        status("phase", index < config.warmup ? "warmup" : "run", "run", runIndex, "threads", threads,
                                "prompt", promptLength);
                        record.putAll(oneRun(engine, sampler, prompt));
                        if (gate != null) {
                            record.put("cooldown", gate);
                        }
                        writer.runs().add(record);
                        writer.flush(sampler, null);
                    }
                }
            }
            runIndex = null;
            if (config.ops) {
                phase = "ops";
                status("phase", phase, "threads", threads);
                new OpProfileRun(config, artifactDir, manifest, threads, sampler, writer, engines).run();
                writer.flush(sampler, null);
            }
        }
    }

    /**
     * A detached run (unplug_wait): before anything loads, wait until the device runs on battery, marked as
     * an unplug_wait phase and recorded as the trace's unplug_wait, as the Linux runner does.
     */
    private void unplugWait(TraceWriter writer, Sampler sampler) throws Exception {
        if (config.unplugWait == null) {
            return;
        }
        phase = "unplug_wait";
        status("phase", phase);
        sampler.mark("unplug_wait", "start", null);
        writer.setUnplugWait(UnplugGate.waitUntilUnplugged(sampler::sampleCpu, config.unplugWait, cooldownClock));
        sampler.mark("unplug_wait", "end", null);
        writer.flush(sampler, null);
        phase = "setup";
    }

    /**
     * The run config's cpus: the whole process pinned (every thread, checked), before any engine or runner
     * loads, so the runtime's threads, started by the load, inherit the mask. Recorded as the Linux runner
     * records its own: software.cpus_allowed and cpu_pinning {cores, scope "process"}. A CPU sample right
     * after makes the next samples' thread_cores count only what ran pinned.
     */
    private void pin(TraceWriter writer, Sampler sampler) throws Exception {
        phase = "setup";
        pinned = CpuPinning.pin(platform.taskset(), platform.processId(), config.cpus, new ThreadPlacement());
        writer.setCpuPinning(pinned.cores(), CpuPinning.SCOPE);
        sampler.sampleCpu();
        writer.flush(sampler, null);
    }

    /**
     * The cool-down gate before a measured repeat (run: its index; null before the sustained run), its
     * wait marked as a phase; null when the config asks for none. Warm-ups are never gated.
     */
    private Map<String, Object> cooldown(Sampler sampler, Integer run) throws InterruptedException {
        if (config.cooldown == null) {
            return null;
        }
        phase = "cooldown";
        if (run == null) {
            status("phase", phase);
        } else {
            status("phase", phase, "run", run);
        }
        sampler.mark("cooldown", "start", run);
        Map<String, Object> record = Cooldown.waitUntilCool(sampler::sampleCpu, config.cooldown, startTempC,
                cooldownClock);
        sampler.mark("cooldown", "end", run);
        return record;
    }

    /**
     * Mode sustained: one load, the gate, then segments until sustained_s has passed. One phase marker
     * pair for the whole run: per segment they would cost a small model more than its steps (a PSS read
     * each); each segment's own times place its prefill and decode. The trace is rewritten at most every
     * SUSTAINED_FLUSH_NS, so a kill keeps all but the last seconds.
     */
    private void sustained(File artifactDir, JsonObject manifest, int threads, Sampler sampler, TraceWriter writer)
            throws Exception {
        try (Engine engine = load(artifactDir, manifest, threads, sampler, writer)) {
            Map<String, Object> gate = cooldown(sampler, null);
            int promptLength = config.promptLengths.get(0);
            int[] prompt = PromptGenerator.prompt(promptLength, config.artifact.vocabSize, config.seed);
            writer.startSustained(threads, promptLength, config.sustainedS, gate);
            phase = "sustained";
            status("phase", phase, "seconds", config.sustainedS);
            sampler.mark("sustained", "start", null);
            long deadline = System.nanoTime() + Math.round(config.sustainedS * 1e9);
            long lastFlush = System.nanoTime();
            int lastPosition = config.artifact.maxSeqLen - 1;
            int[] input = new int[1];
            while (System.nanoTime() - deadline < 0) {
                Map<String, Object> segment = new LinkedHashMap<>();
                segment.put("start_ms", sampler.nowMs());
                long t0 = System.nanoTime();
                float[] logits = engine.step(prompt, 0);
                segment.put("prefill_ms", (System.nanoTime() - t0) / 1e6);
                int token = Greedy.argmax(logits);
                List<Double> stepsUs = new ArrayList<>();
                segment.put("decode_step_us", stepsUs);
                writer.sustainedSegments().add(segment); // kept even if a step fails below
                for (int position = prompt.length; position < lastPosition && System.nanoTime() - deadline < 0;
                        position++) {
                    long s0 = System.nanoTime();
                    input[0] = token;
                    token = Greedy.argmax(engine.step(input, position));
                    stepsUs.add((System.nanoTime() - s0) / 1e3);
                }
                if (System.nanoTime() - lastFlush > SUSTAINED_FLUSH_NS) {
                    writer.flush(sampler, null);
                    lastFlush = System.nanoTime();
                }
            }
            sampler.mark("sustained", "end", null);
            writer.flush(sampler, null);
        }
    }

    /** Mode eval: every chunk scored on one loaded engine, the trace rewritten after each. */
    private void evaluate(File artifactDir, JsonObject manifest, int threads, Sampler sampler, TraceWriter writer)
            throws Exception {
        try (Engine engine = load(artifactDir, manifest, threads, sampler, writer)) {
            for (int index = 0; index < config.evalChunks.size(); index++) {
                phase = "eval";
                status("phase", phase, "chunk", index, "threads", threads);
                int[] chunk = config.evalChunks.get(index);
                sampler.mark("eval", "start", index); // the marker's run field holds the chunk index here
                writer.evalChunks().add(score(engine, chunk, index));
                sampler.mark("eval", "end", index);
                writer.flush(sampler, null);
            }
        }
    }

    /**
     * Teacher forcing one token per step (the same on every engine, prefill-free): after chunk[i] at
     * position i the logits predict chunk[i+1]; the last token is never fed, so L-1 scores.
     */
    static Map<String, Object> score(Engine engine, int[] chunk, int chunkIndex) throws Exception {
        List<Double> logprob = new ArrayList<>(chunk.length - 1);
        List<Integer> argmax = new ArrayList<>(chunk.length - 1);
        int[] input = new int[1];
        long start = System.nanoTime();
        for (int i = 0; i + 1 < chunk.length; i++) {
            input[0] = chunk[i];
            float[] logits = engine.step(input, i);
            int target = chunk[i + 1];
            if (logits == null || target >= logits.length) {
                throw new ProfileException("eval chunk " + chunkIndex + ": the engine returned "
                        + (logits == null ? "no" : String.valueOf(logits.length)) + " logits, fewer than token "
                        + target + " needs");
            }
            double value = logSoftmax(logits, target);
            if (!Double.isFinite(value)) { // JSON has no NaN/Infinity: say where instead of writing a broken trace
                throw new ProfileException("eval chunk " + chunkIndex + " position " + i
                        + ": the engine's logits give a non-finite log-probability (" + value + ")");
            }
            logprob.add(value);
            argmax.add(Greedy.argmax(logits));
        }
        double ms = (System.nanoTime() - start) / 1e6;
        return TraceWriter.evalChunk(chunk.length, logprob, argmax, ms);
    }

    /** log_softmax(logits)[target] in double: (x - max) - log(sum exp(x - max)), as the Linux runner does. */
    static double logSoftmax(float[] logits, int target) {
        double max = Double.NEGATIVE_INFINITY;
        for (float x : logits) {
            max = Math.max(max, x);
        }
        double sum = 0;
        for (float x : logits) {
            sum += Math.exp(x - max);
        }
        return (logits[target] - max) - Math.log(sum);
    }

    private Engine load(File artifactDir, JsonObject manifest, int threads, Sampler sampler, TraceWriter writer)
            throws Exception {
        phase = "load";
        status("phase", phase, "threads", threads);
        sampler.mark("load", "start", null);
        long start = System.nanoTime();
        Engine engine = engines.create(config.artifact.engine);
        try {
            engine.load(artifactDir, manifest, threads);
        } catch (Throwable failure) {
            engine.close();
            throw failure;
        }
        double loadMs = (System.nanoTime() - start) / 1e6;
        sampler.mark("load", "end", null);
        writer.addLoad(threads, loadMs, memoryReader.read().rssBytes(), engine.describe());
        if (config.cpus != null) { // the runtime's new threads inherited the mask, unless it set its own
            try {
                CpuPinning.checkStillPinned(config.cpus, new ThreadPlacement());
            } catch (ProfileException moved) {
                engine.close();
                throw moved;
            }
        }
        writer.flush(sampler, null);
        return engine;
    }

    /** One prefill + decode; TTFT ends when the first token is chosen (prefill + argmax). */
    private Map<String, Object> oneRun(Engine engine, Sampler sampler, int[] prompt) throws Exception {
        double startMs = sampler.nowMs();
        sampler.mark("prefill", "start", runIndex);
        long t0 = System.nanoTime();
        float[] logits = engine.step(prompt, 0);
        long t1 = System.nanoTime();
        int token = Greedy.argmax(logits);
        long t2 = System.nanoTime();
        sampler.mark("prefill", "end", runIndex);
        long rssAfterPrefill = memoryReader.read().rssBytes();
        phase = "decode";
        sampler.mark("decode", "start", runIndex);
        List<Double> stepsUs = decode(engine, token, prompt.length, config.decodeTokens);
        sampler.mark("decode", "end", runIndex);
        Map<String, Object> memory = TraceWriter.runMemory(rssAfterPrefill, memoryReader.read(), sampler.lastPss());
        Map<String, Object> record = new LinkedHashMap<>();
        record.put("start_ms", startMs);
        record.put("prefill_ms", (t1 - t0) / 1e6);
        record.put("ttft_ms", (t2 - t0) / 1e6);
        record.put("decode_step_us", stepsUs);
        record.put("memory", memory);
        return record;
    }

    /** Greedy one-token steps; each step (forward + argmax) timed in microseconds. */
    static List<Double> decode(Engine engine, int token, int position, int steps) throws Exception {
        List<Double> stepsUs = new ArrayList<>(steps);
        int[] input = new int[1];
        for (int i = 0; i < steps; i++) {
            long s0 = System.nanoTime();
            input[0] = token;
            token = Greedy.argmax(engine.step(input, position));
            stepsUs.add((System.nanoTime() - s0) / 1e3);
            position++;
        }
        return stepsUs;
    }

    private void status(Object... keyValues) {
        Map<String, String> fields = new LinkedHashMap<>();
        for (int i = 0; i + 1 < keyValues.length; i += 2) {
            fields.put(String.valueOf(keyValues[i]), String.valueOf(keyValues[i + 1]));
        }
        try {
            listener.status(fields);
        } catch (RuntimeException ignored) {
            // progress is a courtesy: a listener that fails must not end the measurement
        }
    }

    private static String firstError(TraceWriter writer) {
        return writer.errors().isEmpty() ? null : (String) writer.errors().get(0).get("message");
    }

    /** One line: the message of a ProfileException, else the exception's type and message. */
    static String describe(Throwable failure) {
        if (failure instanceof ProfileException) {
            return failure.getMessage();
        }
        String message = RunConfig.firstLine(failure.getMessage());
        return failure.getClass().getSimpleName() + (message.isEmpty() ? "" : ": " + message);
    }

    /** A failure the loop explains in its own words (no exception type in the message). */
    public static final class ProfileException extends Exception {
        public ProfileException(String message) {
            super(message);
        }
    }

    /** Reads the artifact's manifest.json and checks it is the one the host meant. */
    static final class Manifests {
        private Manifests() {}

        static JsonObject read(File artifactDir, String expectedSha256) throws Exception {
            File file = new File(artifactDir, Contract.MANIFEST);
            if (!file.isFile()) {
                throw new ProfileException("artifact folder " + artifactDir + " has no manifest.json (was it pushed?)");
            }
            String sha = TraceWriter.sha256Hex(file);
            if (!sha.equals(expectedSha256)) {
                throw new ProfileException(file + " has SHA-256 " + sha + ", the run config expects "
                        + expectedSha256 + " (push the artifact again)");
            }
            JsonElement manifest = JsonParser.parseString(new String(java.nio.file.Files.readAllBytes(file.toPath()),
                    java.nio.charset.StandardCharsets.UTF_8));
            if (!manifest.isJsonObject()) {
                throw new ProfileException(file + " is not a JSON object");
            }
            return manifest.getAsJsonObject();
        }
    }
}
