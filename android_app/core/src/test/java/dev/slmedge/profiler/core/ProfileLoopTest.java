package dev.slmedge.profiler.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNotEquals;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;
import static org.junit.Assume.assumeTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.File;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

public class ProfileLoopTest {
    @Rule public TemporaryFolder folder = new TemporaryFolder();
    private final List<Map<String, String>> statuses = new ArrayList<>();

    private ProfileLoop.Outcome run(JsonObject configJson, EngineFactory engines) throws Exception {
        File configFile = TestConfigs.writeRun(folder.getRoot(), configJson);
        RunConfig config = RunConfig.read(configFile);
        return new ProfileLoop(config, configFile, new File(folder.getRoot(), "trace"),
                engines == null ? new Main.TinyEngineFactory(config) : engines,
                new DesktopPlatform(new CpuReader()), statuses::add).run();
    }

    private static JsonObject read(ProfileLoop.Outcome outcome) throws Exception {
        return JsonParser.parseString(Files.readString(outcome.trace().toPath())).getAsJsonObject();
    }

    @Test
    public void aCompleteRunMeasuresEveryThreadPromptAndRepeat() throws Exception {
        ProfileLoop.Outcome outcome = run(TestConfigs.valid(), null);
        assertEquals("complete", outcome.status());
        assertTrue(outcome.complete());
        assertNull(outcome.error());
        assertEquals(TraceWriter.sha256Hex(outcome.trace()), outcome.sha256());
        JsonObject trace = read(outcome);
        JsonArray runs = trace.getAsJsonArray("runs");
        assertEquals(2 * 2 * 3, runs.size()); // threads × prompt lengths × (warmup + repeats)
        JsonObject first = runs.get(0).getAsJsonObject();
        assertTrue(first.get("warmup").getAsBoolean());
        assertEquals(0, first.get("repeat").getAsInt());
        JsonObject second = runs.get(1).getAsJsonObject();
        assertEquals(false, second.get("warmup").getAsBoolean());
        assertEquals(0, second.get("repeat").getAsInt());
        for (JsonElement element : runs) {
            JsonObject record = element.getAsJsonObject();
            assertEquals(5, record.getAsJsonArray("decode_step_us").size());
            assertTrue(record.get("prefill_ms").getAsDouble() > 0);
            assertTrue(record.get("ttft_ms").getAsDouble() >= record.get("prefill_ms").getAsDouble());
            assertTrue(record.getAsJsonObject("memory").get("rss_end_bytes").getAsLong() > 0);
        }
        assertEquals(2, trace.getAsJsonArray("loads").size());
        assertEquals(0, trace.getAsJsonArray("errors").size());
        assertTrue(trace.getAsJsonArray("memory_samples").size() >= runs.size() * 4); // phase boundaries at least
        assertTrue(trace.getAsJsonObject("software").get("runtime").getAsString().startsWith("TinyEngine"));
        assertValidTrace(trace);
    }

    @Test
    public void statusesFollowThePhasesLikeTheRunnersLines() throws Exception {
        run(TestConfigs.valid(), null);
        assertEquals(Map.of("phase", "load", "threads", "1"), statuses.get(0));
        assertEquals(Map.of("phase", "warmup", "run", "0", "threads", "1", "prompt", "4"), statuses.get(1));
        assertEquals(Map.of("phase", "run", "run", "1", "threads", "1", "prompt", "4"), statuses.get(2));
        assertEquals(Map.of("phase", "load", "threads", "2"), statuses.get(7));
    }

    @Test
    public void tinyEngineIsDeterministic() throws Exception {
        RunConfig config = RunConfig.parse(TestConfigs.valid().toString());
        int[] prompt = PromptGenerator.prompt(12, 96, 0);
        List<Integer> tokens = new ArrayList<>();
        for (int attempt = 0; attempt < 2; attempt++) {
            try (TinyEngine engine = new TinyEngine(96, 64, 0)) {
                engine.load(null, null, attempt + 1);
                int token = Greedy.argmax(engine.step(prompt, 0));
                tokens.add(token);
                tokens.add(Greedy.argmax(engine.step(new int[] {token}, prompt.length)));
            }
        }
        assertEquals(tokens.subList(0, 2), tokens.subList(2, 4));
        assertEquals(64, config.artifact.maxSeqLen);
    }

    @Test
    public void aSequenceLongerThanTheArtifactFailsWithTheReason() throws Exception {
        JsonObject config = TestConfigs.valid();
        config.addProperty("decode_tokens", 60);
        ProfileLoop.Outcome outcome = run(config, null);
        assertEquals("failed", outcome.status());
        assertTrue(outcome.error().contains("exceed the artifact's max sequence length 64"));
        JsonObject trace = read(outcome);
        assertEquals("failed", trace.get("status").getAsString());
        assertEquals("setup", trace.getAsJsonArray("errors").get(0).getAsJsonObject().get("phase").getAsString());
    }

    @Test
    public void aManifestThatIsNotTheConfigsFails() throws Exception {
        JsonObject config = TestConfigs.valid();
        config.getAsJsonObject("artifact").addProperty("manifest_sha256", "a".repeat(64));
        ProfileLoop.Outcome outcome = run(config, null);
        assertEquals("failed", outcome.status());
        assertTrue(outcome.error().contains("the run config expects " + "a".repeat(64)));
    }

    @Test
    public void aFailureAfterSomeRunsKeepsThemAndSaysIncomplete() throws Exception {
        AtomicInteger created = new AtomicInteger();
        RunConfig parsed = RunConfig.parse(TestConfigs.valid().toString());
        EngineFactory firstOnly = engine -> {
            if (created.getAndIncrement() > 0) {
                throw new UnsupportedOperationException("no second engine");
            }
            return new TinyEngine(parsed.artifact.vocabSize, parsed.artifact.maxSeqLen, 0);
        };
        ProfileLoop.Outcome outcome = run(TestConfigs.valid(), firstOnly);
        assertEquals("incomplete", outcome.status());
        assertEquals("UnsupportedOperationException: no second engine", outcome.error());
        JsonObject trace = read(outcome);
        assertEquals(6, trace.getAsJsonArray("runs").size());
        JsonObject error = trace.getAsJsonArray("errors").get(0).getAsJsonObject();
        assertEquals("load", error.get("phase").getAsString());
        assertNotEquals("running", trace.get("status").getAsString());
    }

    @Test
    public void llmRunnerModeWithoutARunnerFailsClearly() throws Exception {
        JsonObject config = TestConfigs.valid();
        config.addProperty("mode", "llm_runner");
        config.getAsJsonObject("artifact").addProperty("tokenizer_file", "tokenizer.json");
        ProfileLoop.Outcome outcome = run(config, null);
        assertEquals("failed", outcome.status());
        assertTrue(outcome.error().startsWith("mode llm_runner needs ExecuTorch's LlmModule"));
    }

    @Test
    public void opsWithoutAProfilingEngineIsRecordedNotFatal() throws Exception {
        JsonObject config = TestConfigs.valid();
        config.addProperty("ops", true);
        config.add("threads", JsonParser.parseString("[1]"));
        ProfileLoop.Outcome outcome = run(config, null);
        assertEquals("incomplete", outcome.status());
        assertEquals(6, read(outcome).getAsJsonArray("runs").size());
        assertTrue(outcome.error().startsWith("per-op profiling is not available"));
    }

    // --- mode eval ---------------------------------------------------------------------------

    /** TinyEngine that throws on its Nth step (counting from 1), to end an eval run mid-way. */
    private static EngineFactory failingOnStep(int failingStep) {
        return hooked(64, (step, tokens, position) -> {
            if (step == failingStep) {
                throw new IllegalStateException("step " + failingStep + " failed");
            }
        });
    }

    /** The expected scores, computed apart: each position's logits from a fresh prefill of chunk[0..i]. */
    private static double[][] expectedLogprobAndArgmax(int[] chunk) throws Exception {
        double[] logprob = new double[chunk.length - 1];
        double[] argmax = new double[chunk.length - 1];
        try (TinyEngine engine = new TinyEngine(96, 64, 0)) {
            engine.load(null, null, 1);
            for (int i = 0; i + 1 < chunk.length; i++) {
                float[] logits = engine.step(Arrays.copyOf(chunk, i + 1), 0);
                double max = Double.NEGATIVE_INFINITY;
                int best = -1;
                for (int v = 0; v < logits.length; v++) {
                    if (best < 0 || logits[v] > logits[best]) {
                        best = v;
                    }
                    max = Math.max(max, logits[v]);
                }
                double sum = 0;
                for (float x : logits) {
                    sum += Math.exp(x - max);
                }
                logprob[i] = Math.log(Math.exp(logits[chunk[i + 1]] - max) / sum);
                argmax[i] = best;
            }
        }
        return new double[][] {logprob, argmax};
    }

    @Test
    public void evalScoresEveryChunkByTeacherForcing() throws Exception {
        JsonObject configJson = TestConfigs.validEval();
        List<Integer> chunksOnDiskAtEachStatus = new ArrayList<>();
        File traceFile = new File(folder.getRoot(), "trace/trace.json");
        File configFile = TestConfigs.writeRun(folder.getRoot(), configJson);
        RunConfig config = RunConfig.read(configFile);
        ProfileLoop.Outcome outcome = new ProfileLoop(config, configFile, traceFile.getParentFile(),
                new Main.TinyEngineFactory(config), new DesktopPlatform(new CpuReader()), fields -> {
                    statuses.add(fields);
                    if ("eval".equals(fields.get("phase"))) { // what the host would pull right now
                        try {
                            chunksOnDiskAtEachStatus.add(readFile(traceFile).getAsJsonObject("eval")
                                    .getAsJsonArray("chunks").size());
                        } catch (Exception unreadable) {
                            chunksOnDiskAtEachStatus.add(-1); // fails the comparison below
                        }
                    }
                }).run();
        assertEquals("complete", outcome.status());
        assertNull(outcome.error());
        JsonObject trace = read(outcome);
        assertEquals("complete", trace.get("status").getAsString());
        assertEquals(0, trace.getAsJsonArray("runs").size());
        assertEquals(1, trace.getAsJsonArray("loads").size());
        assertEquals(2, trace.getAsJsonArray("loads").get(0).getAsJsonObject().get("threads").getAsInt());
        assertEquals(0, trace.getAsJsonArray("errors").size());
        JsonObject eval = trace.getAsJsonObject("eval");
        assertEquals(2, eval.get("threads").getAsInt());
        JsonArray chunks = eval.getAsJsonArray("chunks");
        assertEquals(config.evalChunks.size(), chunks.size());
        for (int c = 0; c < chunks.size(); c++) {
            int[] tokens = config.evalChunks.get(c);
            JsonObject chunk = chunks.get(c).getAsJsonObject();
            assertEquals(Set.of("tokens", "logprob", "argmax", "ms"), chunk.keySet());
            assertEquals(tokens.length, chunk.get("tokens").getAsInt());
            assertTrue(chunk.get("ms").getAsDouble() > 0);
            double[][] expected = expectedLogprobAndArgmax(tokens);
            JsonArray logprob = chunk.getAsJsonArray("logprob");
            JsonArray argmax = chunk.getAsJsonArray("argmax");
            assertEquals(tokens.length - 1, logprob.size());
            assertEquals(tokens.length - 1, argmax.size());
            for (int i = 0; i < tokens.length - 1; i++) {
                assertEquals("chunk " + c + " logprob[" + i + "]", expected[0][i], logprob.get(i).getAsDouble(), 1e-9);
                assertTrue(logprob.get(i).getAsDouble() < 0);
                assertEquals("chunk " + c + " argmax[" + i + "]", (int) expected[1][i], argmax.get(i).getAsInt());
            }
        }
        // the trace on disk had every earlier chunk when each chunk began: it is flushed after each
        assertEquals(List.of(0, 1, 2), chunksOnDiskAtEachStatus);
        assertEquals(Map.of("phase", "load", "threads", "2"), statuses.get(0));
        assertEquals(Map.of("phase", "eval", "chunk", "1", "threads", "2"), statuses.get(2));
        assertEquals(List.of("phase", "chunk", "threads"), new ArrayList<>(statuses.get(2).keySet()));
        List<Integer> evalStarts = new ArrayList<>();
        for (JsonElement marker : trace.getAsJsonArray("phase_markers")) {
            JsonObject m = marker.getAsJsonObject();
            if ("eval".equals(m.get("phase").getAsString()) && "start".equals(m.get("event").getAsString())) {
                evalStarts.add(m.get("run").getAsInt()); // the chunk index, as the Linux runner marks it
            }
        }
        assertEquals(List.of(0, 1, 2), evalStarts);
    }

    @Test
    public void evalLogprobsAreFullDoublesAndSumToOneOverTheVocabulary() throws Exception {
        float[] logits;
        try (TinyEngine engine = new TinyEngine(96, 64, 0)) {
            engine.load(null, null, 1);
            logits = engine.step(new int[] {5, 17, 42}, 0);
        }
        double total = 0;
        for (int v = 0; v < logits.length; v++) {
            total += Math.exp(ProfileLoop.logSoftmax(logits, v));
        }
        assertEquals(1.0, total, 1e-12);
        // what Gson writes reads back as the same double (the host compares with float64 to ~1e-6)
        double value = ProfileLoop.logSoftmax(logits, 17);
        JsonObject written = JsonParser.parseString(new com.google.gson.Gson().toJson(
                TraceWriter.evalChunk(2, List.of(value), List.of(0), 1.0))).getAsJsonObject();
        assertEquals(value, written.getAsJsonArray("logprob").get(0).getAsDouble(), 0.0);
    }

    @Test
    public void anEvalFailureMidWayKeepsTheScoredChunksAndSaysIncomplete() throws Exception {
        // chunk 0 takes 1 step, chunk 1 five: step 3 is inside chunk 1
        ProfileLoop.Outcome outcome = run(TestConfigs.validEval(), failingOnStep(3));
        assertEquals("incomplete", outcome.status());
        assertEquals("IllegalStateException: step 3 failed", outcome.error());
        JsonObject trace = read(outcome);
        assertEquals("incomplete", trace.get("status").getAsString());
        JsonArray chunks = trace.getAsJsonObject("eval").getAsJsonArray("chunks");
        assertEquals(1, chunks.size());
        assertEquals(2, chunks.get(0).getAsJsonObject().get("tokens").getAsInt());
        JsonObject error = trace.getAsJsonArray("errors").get(0).getAsJsonObject();
        assertEquals("eval", error.get("phase").getAsString());
        assertTrue(error.get("run").isJsonNull());
    }

    @Test
    public void anEvalFailureBeforeAnyChunkIsScoredFails() throws Exception {
        ProfileLoop.Outcome outcome = run(TestConfigs.validEval(), failingOnStep(1));
        assertEquals("failed", outcome.status());
        JsonObject trace = read(outcome);
        assertEquals(0, trace.getAsJsonObject("eval").getAsJsonArray("chunks").size());
        assertEquals(0, trace.getAsJsonArray("runs").size());
    }

    @Test
    public void anEvalChunkLongerThanTheArtifactFailsWithTheReason() throws Exception {
        JsonObject config = TestConfigs.validEval();
        JsonArray long65 = new JsonArray();
        for (int i = 0; i < 65; i++) {
            long65.add(3 + i % 90);
        }
        config.getAsJsonObject("eval").getAsJsonArray("chunks").add(long65);
        assertEquals(65, RunConfig.parse(config.toString()).longestSequence());
        ProfileLoop.Outcome outcome = run(config, null);
        assertEquals("failed", outcome.status());
        assertEquals("eval chunk of 65 tokens exceeds the artifact's max sequence length 64 "
                + "(use shorter chunks or re-export with a larger --max-seq-len)", outcome.error());
        JsonObject trace = read(outcome);
        assertEquals("setup", trace.getAsJsonArray("errors").get(0).getAsJsonObject().get("phase").getAsString());
        assertEquals(0, trace.getAsJsonArray("loads").size()); // refused before loading anything
    }

    @Test
    public void nonFiniteLogitsEndTheEvalWithAReasonNotABrokenTrace() throws Exception {
        EngineFactory nanOnSecondChunk = engine -> new ForwardingEngine(64) {
            @Override
            public float[] step(int[] tokens, int startPos) throws Exception {
                float[] logits = tiny.step(tokens, startPos);
                if (tokens[0] == 95) { // chunk 1 starts with token 95
                    logits[7] = Float.NaN;
                }
                return logits;
            }
        };
        ProfileLoop.Outcome outcome = run(TestConfigs.validEval(), nanOnSecondChunk);
        assertEquals("incomplete", outcome.status());
        assertEquals("eval chunk 1 position 0: the engine's logits give a non-finite log-probability (NaN)",
                outcome.error());
        assertEquals(1, read(outcome).getAsJsonObject("eval").getAsJsonArray("chunks").size());
    }

    @Test
    public void mainRunsAnEvalConfigOnTheDesktopJvm() throws Exception {
        File configFile = TestConfigs.writeRun(folder.getRoot(), TestConfigs.validEval());
        File traceDir = new File(folder.getRoot(), "main-trace");
        assertEquals(0, Main.run(new String[] {configFile.getPath(), traceDir.getPath()}));
        JsonObject trace = readFile(new File(traceDir, "trace.json"));
        assertEquals("complete", trace.get("status").getAsString());
        assertEquals(3, trace.getAsJsonObject("eval").getAsJsonArray("chunks").size());
    }

    // --- mode sustained and the cool-down gate ----------------------------------------------

    /** Called before each engine step with the step's number (from 1), its tokens and position; may throw. */
    private interface StepHook {
        void before(int step, int[] tokens, int startPos) throws Exception;
    }

    /** TinyEngine (vocabulary 96, this context) with a hook before every step. */
    private static EngineFactory hooked(int maxSeqLen, StepHook hook) {
        AtomicInteger steps = new AtomicInteger();
        return engine -> new ForwardingEngine(maxSeqLen) {
            @Override
            public float[] step(int[] tokens, int startPos) throws Exception {
                hook.before(steps.incrementAndGet(), tokens, startPos);
                return tiny.step(tokens, startPos);
            }
        };
    }

    /** A run whose CPU temperature comes from thermal_zone0 under `thermal` and whose gate waits on `clock`. */
    private ProfileLoop.Outcome runGated(JsonObject configJson, File thermal, Cooldown.Clock clock) throws Exception {
        File configFile = TestConfigs.writeRun(folder.getRoot(), configJson);
        RunConfig config = RunConfig.read(configFile);
        CpuReader cpu = new CpuReader(new File(folder.getRoot(), "no-cpus"), thermal);
        return new ProfileLoop(config, configFile, new File(folder.getRoot(), "trace"), new Main.TinyEngineFactory(config),
                new DesktopPlatform(cpu), statuses::add, new MemoryReader(), cpu).withCooldownClock(clock).run();
    }

    private File thermalZone(double celsius) throws Exception {
        File zone = new File(folder.getRoot(), "thermal/thermal_zone0");
        zone.mkdirs();
        Files.writeString(new File(zone, "temp").toPath(), Math.round(celsius * 1000) + "\n");
        return zone.getParentFile();
    }

    /** A clock that moves only when the gate sleeps; once it has slept coolAfterNs in all, the zone reads coolC. */
    private Cooldown.Clock coolingClock(long coolAfterNs, double coolC) {
        return new Cooldown.Clock() {
            private long now;

            @Override
            public long nanoTime() {
                return now;
            }

            @Override
            public void sleepNanos(long nanos) throws InterruptedException {
                now += nanos;
                if (now >= coolAfterNs) {
                    try {
                        thermalZone(coolC);
                    } catch (Exception e) {
                        throw new AssertionError(e);
                    }
                }
            }
        };
    }

    private static List<String> markers(JsonObject trace) {
        List<String> out = new ArrayList<>();
        for (JsonElement element : trace.getAsJsonArray("phase_markers")) {
            JsonObject marker = element.getAsJsonObject();
            out.add(marker.get("phase").getAsString() + " " + marker.get("event").getAsString()
                    + (marker.get("run").isJsonNull() ? "" : " " + marker.get("run").getAsInt()));
        }
        return out;
    }

    /** The trace is what the host's schema says (checked where the repository's schemas are at hand). */
    private static void assertValidTrace(JsonObject trace) throws Exception {
        JsonObject schema = SchemaCheck.schema("trace");
        if (schema != null) {
            assertEquals(List.of(), SchemaCheck.errors(schema, trace));
        }
    }

    @Test
    public void sustainedDecodesInSegmentsThatFillTheContextUntilTheTimeIsUp() throws Exception {
        JsonObject configJson = TestConfigs.validSustained(0.3, 16);
        configJson.add("threads", JsonParser.parseString("[1, 2]")); // the first thread count only
        File traceFile = new File(folder.getRoot(), "trace/trace.json");
        List<Boolean> sectionOnDiskAtEachPrefill = new ArrayList<>();
        ProfileLoop.Outcome outcome = run(configJson, hooked(16, (step, tokens, position) -> {
            if (position == 0) { // what the host would pull now: rewritten every 5 s, not after every segment
                sectionOnDiskAtEachPrefill.add(readFile(traceFile).has("sustained"));
            }
        }));
        assertEquals("complete", outcome.status());
        assertNull(outcome.error());
        JsonObject trace = read(outcome);
        assertValidTrace(trace);
        assertEquals(0, trace.getAsJsonArray("runs").size());
        assertEquals(1, trace.getAsJsonArray("loads").size());
        assertEquals(1, trace.getAsJsonArray("loads").get(0).getAsJsonObject().get("threads").getAsInt());
        JsonObject sustained = trace.getAsJsonObject("sustained");
        assertEquals(Set.of("threads", "prompt_length", "seconds", "segments"), sustained.keySet()); // no gate asked
        assertEquals(1, sustained.get("threads").getAsInt());
        assertEquals(4, sustained.get("prompt_length").getAsInt()); // the first prompt length
        assertEquals(0.3, sustained.get("seconds").getAsDouble(), 0);
        JsonArray segments = sustained.getAsJsonArray("segments");
        assertTrue("segments: " + segments.size(), segments.size() > 1);
        assertEquals(segments.size(), sectionOnDiskAtEachPrefill.size());
        assertFalse(sectionOnDiskAtEachPrefill.contains(true));
        double previousStart = -1;
        double decodingMs = 0;
        for (int i = 0; i < segments.size(); i++) {
            JsonObject segment = segments.get(i).getAsJsonObject();
            assertEquals(Set.of("start_ms", "prefill_ms", "decode_step_us"), segment.keySet());
            int steps = segment.getAsJsonArray("decode_step_us").size();
            if (i < segments.size() - 1) {
                assertEquals("segment " + i, 16 - 1 - 4, steps); // positions 4 … 14: the context is full
            } else {
                assertTrue("last segment: " + steps, steps <= 16 - 1 - 4); // cut short when the time is up
            }
            assertTrue(segment.get("start_ms").getAsDouble() > previousStart);
            previousStart = segment.get("start_ms").getAsDouble();
            assertTrue(segment.get("prefill_ms").getAsDouble() > 0);
            decodingMs += segment.get("prefill_ms").getAsDouble();
            for (JsonElement us : segment.getAsJsonArray("decode_step_us")) {
                assertTrue(us.getAsDouble() > 0);
                decodingMs += us.getAsDouble() / 1000;
            }
        }
        assertTrue("decoding took " + decodingMs + " ms", decodingMs > 100 && decodingMs < 600);
        // one marker pair for the whole run, none per segment
        assertEquals(List.of("load start", "load end", "sustained start", "sustained end"), markers(trace));
        assertEquals(List.of(Map.of("phase", "load", "threads", "1"), Map.of("phase", "sustained", "seconds", "0.3")),
                statuses);
    }

    @Test
    public void aSustainedFailureMidWayKeepsTheSegmentsAndSaysIncomplete() throws Exception {
        // context 64, prompt 4: a segment is 1 prefill + 59 steps, so step 100 is the 39th step of the second
        ProfileLoop.Outcome outcome = run(TestConfigs.validSustained(30, 64), hooked(64, (step, tokens, position) -> {
            if (step == 100) {
                throw new IllegalStateException("step 100 failed");
            }
        }));
        assertEquals("incomplete", outcome.status());
        assertEquals("IllegalStateException: step 100 failed", outcome.error());
        JsonObject trace = read(outcome);
        assertValidTrace(trace);
        JsonArray segments = trace.getAsJsonObject("sustained").getAsJsonArray("segments");
        assertEquals(2, segments.size());
        assertEquals(59, segments.get(0).getAsJsonObject().getAsJsonArray("decode_step_us").size());
        assertEquals(38, segments.get(1).getAsJsonObject().getAsJsonArray("decode_step_us").size());
        JsonObject error = trace.getAsJsonArray("errors").get(0).getAsJsonObject();
        assertEquals("sustained", error.get("phase").getAsString());
        assertTrue(error.get("run").isJsonNull());

        ProfileLoop.Outcome first = run(TestConfigs.validSustained(30, 64), hooked(64, (step, tokens, position) -> {
            throw new IllegalStateException("no prefill");
        }));
        assertEquals("failed", first.status()); // nothing measured
        assertEquals(0, read(first).getAsJsonObject("sustained").getAsJsonArray("segments").size());
    }

    @Test
    public void aSustainedPromptThatFillsTheContextFailsWithTheReason() throws Exception {
        JsonObject config = TestConfigs.validSustained(1, 16);
        config.add("prompt_lengths", JsonParser.parseString("[16, 4]"));
        ProfileLoop.Outcome outcome = run(config, null);
        assertEquals("failed", outcome.status());
        assertEquals("a sustained run's prompt of 16 tokens leaves no room to decode in the artifact's max sequence "
                + "length 16 (use a shorter prompt length or re-export with a larger --max-seq-len)", outcome.error());
        assertEquals(0, read(outcome).getAsJsonArray("loads").size());
    }

    @Test
    public void theGateWaitsBeforeEachMeasuredRepeatAndNeverBeforeAWarmup() throws Exception {
        JsonObject config = TestConfigs.valid();
        config.add("threads", JsonParser.parseString("[1]"));
        config.add("prompt_lengths", JsonParser.parseString("[4]"));
        config.add("cooldown", JsonParser.parseString("{\"max_wait_s\": 60, \"temp_c\": 40}"));
        ProfileLoop.Outcome outcome = runGated(config, thermalZone(50), coolingClock(2_000_000_000L, 35));
        assertEquals("complete", outcome.status());
        JsonObject trace = read(outcome);
        assertValidTrace(trace);
        JsonArray runs = trace.getAsJsonArray("runs");
        assertEquals(3, runs.size());
        assertFalse(runs.get(0).getAsJsonObject().has("cooldown")); // the warm-up
        assertEquals(JsonParser.parseString("{\"waited_ms\": 2000.0, \"outcome\": \"cool\", \"temp_c_before\": 50.0, "
                        + "\"temp_c_after\": 35.0, \"target_c\": 40.0, \"thermal_status\": null}"),
                runs.get(1).getAsJsonObject().get("cooldown"));
        assertEquals(JsonParser.parseString("{\"waited_ms\": 0.0, \"outcome\": \"cool\", \"temp_c_before\": 35.0, "
                        + "\"temp_c_after\": 35.0, \"target_c\": 40.0, \"thermal_status\": null}"),
                runs.get(2).getAsJsonObject().get("cooldown"));
        assertEquals(List.of("load start", "load end", "prefill start 0", "prefill end 0", "decode start 0",
                "decode end 0", "cooldown start 1", "cooldown end 1", "prefill start 1", "prefill end 1", "decode start 1",
                "decode end 1", "cooldown start 2", "cooldown end 2", "prefill start 2", "prefill end 2", "decode start 2",
                "decode end 2"), markers(trace));
        assertEquals(Map.of("phase", "cooldown", "run", "1"), statuses.get(2));
        assertEquals(Map.of("phase", "run", "run", "1", "threads", "1", "prompt", "4"), statuses.get(3));
        // the gate's readings stay in cpu_samples: the first (the run's start) at 50 °C, the last at 35
        JsonArray cpu = trace.getAsJsonArray("cpu_samples");
        assertEquals(50.0, cpu.get(0).getAsJsonObject().get("temp_c").getAsDouble(), 0);
        assertEquals(35.0, cpu.get(cpu.size() - 1).getAsJsonObject().get("temp_c").getAsDouble(), 0);
    }

    @Test
    public void theGateWithoutASensorRecordsSoAndDoesNotWait() throws Exception {
        JsonObject config = TestConfigs.valid();
        config.add("threads", JsonParser.parseString("[1]"));
        config.add("prompt_lengths", JsonParser.parseString("[4]"));
        config.add("cooldown", JsonParser.parseString("{\"max_wait_s\": 60, \"temp_c\": 40}"));
        File noZones = new File(folder.getRoot(), "no-thermal");
        ProfileLoop.Outcome outcome = runGated(config, noZones, coolingClock(0, 35));
        assertEquals("complete", outcome.status());
        JsonArray runs = read(outcome).getAsJsonArray("runs");
        for (int i = 1; i < 3; i++) {
            JsonObject gate = runs.get(i).getAsJsonObject().getAsJsonObject("cooldown");
            assertEquals("no_sensor", gate.get("outcome").getAsString());
            assertEquals(0.0, gate.get("waited_ms").getAsDouble(), 0);
        }
        assertFalse(new File(folder.getRoot(), "thermal").exists()); // the clock never slept (it would write a zone)
    }

    @Test
    public void aSustainedRunIsGatedOnceAndKeepsTheGatesRecord() throws Exception {
        JsonObject config = TestConfigs.validSustained(0.2, 16);
        config.add("cooldown", JsonParser.parseString("{\"max_wait_s\": 1.5, \"temp_c\": 40, \"within_c\": 20}"));
        ProfileLoop.Outcome outcome = runGated(config, thermalZone(50), coolingClock(Long.MAX_VALUE, 35));
        assertEquals("complete", outcome.status());
        JsonObject trace = read(outcome);
        assertValidTrace(trace);
        JsonObject sustained = trace.getAsJsonObject("sustained");
        assertEquals(JsonParser.parseString("{\"waited_ms\": 1500.0, \"outcome\": \"timed_out\", \"temp_c_before\": 50.0, "
                        + "\"temp_c_after\": 50.0, \"target_c\": 40.0, \"thermal_status\": null}"),
                sustained.get("cooldown"));
        assertTrue(sustained.getAsJsonArray("segments").size() > 1);
        assertEquals(List.of("load start", "load end", "cooldown start", "cooldown end", "sustained start",
                "sustained end"), markers(trace));
        assertEquals(List.of(Map.of("phase", "load", "threads", "1"), Map.of("phase", "cooldown"),
                Map.of("phase", "sustained", "seconds", "0.2")), statuses);
    }

    // --- unplug_wait, cpus and thread_cores -----------------------------------------------------

    /** A battery (and USB port) in a power_supply tree of the test's own, read by the real SysfsPowerProbe. */
    private File powerSupply(String batteryStatus, int usbOnline) throws Exception {
        File supplies = new File(folder.getRoot(), "sys/class/power_supply");
        new File(supplies, "battery").mkdirs();
        new File(supplies, "usb").mkdirs();
        Files.writeString(new File(supplies, "battery/type").toPath(), "Battery\n");
        Files.writeString(new File(supplies, "battery/status").toPath(), batteryStatus + "\n");
        Files.writeString(new File(supplies, "usb/type").toPath(), "USB\n");
        Files.writeString(new File(supplies, "usb/online").toPath(), usbOnline + "\n");
        return new File(folder.getRoot(), "sys");
    }

    /** A clock that moves only when slept on; after `unplugAfterNs` of sleep in all, the cable is pulled. */
    private Cooldown.Clock unpluggingClock(long unplugAfterNs, List<Long> recorded) {
        return new CooldownTest.FakeClock() {
            private long slept;

            @Override
            public void sleepNanos(long nanos) {
                super.sleepNanos(nanos);
                recorded.add(nanos);
                slept += nanos;
                if (slept >= unplugAfterNs) {
                    try {
                        powerSupply("Discharging", 0);
                    } catch (Exception e) {
                        throw new AssertionError(e);
                    }
                }
            }
        };
    }

    private ProfileLoop.Outcome runOn(JsonObject configJson, EngineFactory engines, Platform platform,
                                      Cooldown.Clock clock) throws Exception {
        File configFile = TestConfigs.writeRun(folder.getRoot(), configJson);
        RunConfig config = RunConfig.read(configFile);
        CpuReader cpu = new CpuReader(new File(folder.getRoot(), "no-cpus"), new File(folder.getRoot(), "no-thermal"));
        return new ProfileLoop(config, configFile, new File(folder.getRoot(), "trace"),
                engines == null ? new Main.TinyEngineFactory(config) : engines, platform, statuses::add,
                new MemoryReader(), cpu).withCooldownClock(clock).run();
    }

    private static JsonObject oneThreadOnePrompt() {
        JsonObject config = TestConfigs.valid();
        config.add("threads", JsonParser.parseString("[1]"));
        config.add("prompt_lengths", JsonParser.parseString("[4]"));
        return config;
    }

    @Test
    public void aDetachedRunWaitsUntilUnpluggedBeforeTheModelLoads() throws Exception {
        JsonObject config = oneThreadOnePrompt();
        config.add("unplug_wait", JsonParser.parseString("{\"max_wait_s\": 600, \"settle_s\": 5, \"poll_s\": 1}"));
        File sys = powerSupply("Charging", 1);
        List<Long> sleeps = new ArrayList<>();
        ProfileLoop.Outcome outcome = runOn(config, null,
                new DesktopPlatform(new CpuReader(), List.of(new SysfsPowerProbe(sys))), unpluggingClock(3_000_000_000L, sleeps));
        assertEquals("complete", outcome.status());
        JsonObject trace = read(outcome);
        assertValidTrace(trace);
        assertEquals(JsonParser.parseString("{\"waited_ms\": 3000.0, \"outcome\": \"unplugged\", \"settle_ms\": 5000.0, "
                + "\"plugged_before\": true}"), trace.get("unplug_wait"));
        assertEquals(List.of(1_000_000_000L, 1_000_000_000L, 1_000_000_000L, 5_000_000_000L), sleeps);
        List<String> markers = markers(trace);
        assertEquals(List.of("unplug_wait start", "unplug_wait end", "load start", "load end"), markers.subList(0, 4));
        assertEquals(Map.of("phase", "unplug_wait"), statuses.get(0));
        assertEquals(Map.of("phase", "load", "threads", "1"), statuses.get(1));
        // the polls are CPU samples the trace keeps: plugged at the start, on battery from the 4th
        JsonArray cpu = trace.getAsJsonArray("cpu_samples");
        assertTrue(cpu.get(0).getAsJsonObject().get("plugged").getAsBoolean());
        assertFalse(cpu.get(4).getAsJsonObject().get("plugged").getAsBoolean());
    }

    @Test
    public void anUnplugWaitThatTimesOutOrHasNoSensorStillRuns() throws Exception {
        JsonObject config = oneThreadOnePrompt();
        config.add("unplug_wait", JsonParser.parseString("{\"max_wait_s\": 2, \"poll_s\": 1}"));
        File sys = powerSupply("Charging", 1);
        ProfileLoop.Outcome outcome = runOn(config, null,
                new DesktopPlatform(new CpuReader(), List.of(new SysfsPowerProbe(sys))),
                unpluggingClock(Long.MAX_VALUE, new ArrayList<>()));
        assertEquals("complete", outcome.status());
        assertEquals(JsonParser.parseString("{\"waited_ms\": 2000.0, \"outcome\": \"timed_out\", \"settle_ms\": 0.0, "
                + "\"plugged_before\": true}"), read(outcome).get("unplug_wait"));

        List<Long> sleeps = new ArrayList<>();
        ProfileLoop.Outcome noSensor = runOn(config, null,
                new DesktopPlatform(new CpuReader(), List.of(new SysfsPowerProbe(new File(folder.getRoot(), "empty-sys")))),
                unpluggingClock(0, sleeps));
        assertEquals("complete", noSensor.status());
        JsonObject trace = read(noSensor);
        assertValidTrace(trace);
        assertEquals(JsonParser.parseString("{\"waited_ms\": 0.0, \"outcome\": \"no_sensor\", \"settle_ms\": 0.0, "
                + "\"plugged_before\": null}"), trace.get("unplug_wait"));
        assertEquals(List.of(), sleeps);
        // without unplug_wait the trace has no such record
        assertFalse(read(run(oneThreadOnePrompt(), null)).has("unplug_wait"));
    }

    /** Real pinning needs Linux /proc, util-linux taskset on PATH and, to pin to core 1, two cores or more. */
    static void assumeTasksetAndCores(int cores) {
        assumeTrue("needs Linux /proc", ThreadPlacement.TASKS.isDirectory());
        assumeTrue("needs " + cores + " cores", Runtime.getRuntime().availableProcessors() >= cores);
        assumeTrue("needs taskset on PATH", CpuPinningTest.onPath("taskset"));
    }

    /** The cores this process's threads may run on now (their union). */
    static Set<Integer> allowedNow() {
        Set<Integer> union = new java.util.TreeSet<>();
        new ThreadPlacement().allowedCores().values().forEach(union::addAll);
        return union;
    }

    @Test
    public void cpusPinTheWholeProcessBeforeTheLoadAndGiveItsCoresBackAfter() throws Exception {
        assumeTasksetAndCores(2);
        Set<Integer> before = allowedNow();
        assumeTrue("core 1 is not allowed to this process: " + before, before.contains(1));
        JsonObject config = oneThreadOnePrompt();
        config.add("threads", JsonParser.parseString("[2]")); // TinyEngine ignores it; the pinning does not care
        config.add("cpus", JsonParser.parseString("[1]"));
        List<Map<String, java.util.TreeSet<Integer>>> seenByTheEngine = new ArrayList<>();
        EngineFactory recording = engine -> new ForwardingEngine(64) {
            @Override
            public void load(File artifactDir, JsonObject manifest, int threads) {
                seenByTheEngine.add(new ThreadPlacement().allowedCores()); // loading: already pinned
                tiny.load(artifactDir, manifest, threads);
            }
        };
        ProfileLoop.Outcome outcome = run(config, recording);
        assertEquals(outcome.error(), "complete", outcome.status());
        JsonObject trace = read(outcome);
        assertValidTrace(trace);
        JsonObject software = trace.getAsJsonObject("software");
        assertEquals(JsonParser.parseString("[1]"), software.get("cpus_allowed"));
        assertEquals(JsonParser.parseString("{\"cores\": [1], \"scope\": \"process\"}"), software.get("cpu_pinning"));
        assertEquals(1, seenByTheEngine.size());
        assertFalse(seenByTheEngine.get(0).isEmpty());
        for (Map.Entry<String, java.util.TreeSet<Integer>> thread : seenByTheEngine.get(0).entrySet()) {
            assertEquals("thread " + thread.getKey(), Set.of(1), thread.getValue());
        }
        assertEquals("the run gives the process its cores back", before, allowedNow());
        // without cpus nothing is pinned or recorded
        JsonObject unpinned = read(run(oneThreadOnePrompt(), null)).getAsJsonObject("software");
        assertFalse(unpinned.has("cpu_pinning"));
        assertFalse(unpinned.has("cpus_allowed"));
    }

    @Test
    public void cpusTheProcessMayNotUseFailTheRunWithWhatTasksetSaid() throws Exception {
        assumeTasksetAndCores(1);
        Set<Integer> before = allowedNow();
        JsonObject config = oneThreadOnePrompt();
        config.add("cpus", JsonParser.parseString("[64]")); // no such core here: sched_setaffinity says EINVAL
        ProfileLoop.Outcome outcome = run(config, null);
        assertEquals("failed", outcome.status());
        String error = outcome.error();
        assertTrue(error, error.startsWith("cannot pin this process to cores [64] (run config cpus): `taskset -a -p "
                + "10000000000000000 " + ProcessHandle.current().pid() + "` exited with status 1 and printed: "));
        assertTrue(error, error.contains("Invalid argument"));
        assertTrue(error, error.contains("then the threads' Cpus_allowed_list was " + CpuPinning.cpuList(before) + " ("));
        assertTrue(error, error.endsWith("The chosen cores must be within those this app may run on ("
                + CpuPinning.cpuList(before) + " before pinning; on Android the app's cpuset cgroup bounds them), "
                + "and taskset must be runnable"));
        assertFalse(error, error.contains("\n"));
        JsonObject trace = read(outcome);
        assertValidTrace(trace);
        JsonObject failure = trace.getAsJsonArray("errors").get(0).getAsJsonObject();
        assertEquals("setup", failure.get("phase").getAsString());
        assertEquals(error, failure.get("message").getAsString());
        assertEquals(0, trace.getAsJsonArray("loads").size()); // nothing loaded unpinned
        assertFalse(trace.getAsJsonObject("software").has("cpu_pinning"));
        assertEquals(before, allowedNow());
    }

    @Test
    public void everyModeTakesCpusNowThatTheProcessIsPinned() throws Exception {
        assumeTasksetAndCores(1);
        JsonObject llmRunner = TestConfigs.valid();
        llmRunner.addProperty("mode", "llm_runner");
        llmRunner.getAsJsonObject("artifact").addProperty("tokenizer_file", "tokenizer.json");
        llmRunner.add("cpus", JsonParser.parseString("[0]"));
        ProfileLoop.Outcome outcome = run(llmRunner, null); // pinned, then: no LlmModule on a desktop JVM
        assertEquals("failed", outcome.status());
        assertTrue(outcome.error(), outcome.error().startsWith("mode llm_runner needs ExecuTorch's LlmModule"));
        assertEquals(JsonParser.parseString("{\"cores\": [0], \"scope\": \"process\"}"),
                read(outcome).getAsJsonObject("software").get("cpu_pinning"));
    }

    @Test
    public void cpuSamplesSayWhichCoresTheThreadsRanOn() throws Exception {
        assumeTrue("needs Linux /proc", ThreadPlacement.TASKS.isDirectory());
        JsonObject trace = read(run(oneThreadOnePrompt(), null));
        assertValidTrace(trace);
        int processors = Runtime.getRuntime().availableProcessors();
        int samplesWithCores = 0;
        for (JsonElement sample : trace.getAsJsonArray("cpu_samples")) {
            JsonObject cores = sample.getAsJsonObject().getAsJsonObject("thread_cores");
            samplesWithCores += cores.size() > 0 ? 1 : 0;
            for (String core : cores.keySet()) {
                assertTrue(core, Integer.parseInt(core) >= 0 && Integer.parseInt(core) < processors);
            }
        }
        assertTrue(samplesWithCores >= 1);
    }

    private static JsonObject readFile(File file) throws Exception {
        return JsonParser.parseString(Files.readString(file.toPath())).getAsJsonObject();
    }
}
