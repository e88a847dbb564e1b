package dev.slmedge.profiler.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNotEquals;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.File;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
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
}
