package dev.slmedge.profiler.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;
import static org.junit.Assume.assumeTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.File;
import java.util.List;
import java.util.function.Consumer;
import org.junit.Test;

public class RunConfigTest {
    private static String errorFor(Consumer<JsonObject> breakIt) {
        JsonObject config = TestConfigs.valid();
        breakIt.accept(config);
        return assertThrows(ConfigException.class, () -> RunConfig.parse(config.toString())).getMessage();
    }

    @Test
    public void parsesAValidConfigWithTheRunnersDefaults() throws Exception {
        RunConfig config = RunConfig.parse(TestConfigs.valid().toString());
        assertEquals("executorch", config.artifact.engine);
        assertEquals(List.of(4, 12), config.promptLengths);
        assertEquals(List.of(1, 2), config.threads);
        assertEquals("steps", config.mode);
        assertEquals(50.0, config.sampleIntervalMs, 0);
        assertTrue(config.memorySampling);
        assertFalse(config.ops);
        assertEquals(0, config.seed);
        assertEquals("trace.json", config.traceFile);
        assertNull(config.artifact.bosId);
        assertNull(config.artifact.tokenizerFile);
        assertEquals(17, config.longestSequence());
    }

    @Test
    public void resolvesTheArtifactFolderAgainstTheConfigFile() throws Exception {
        RunConfig config = RunConfig.parse(TestConfigs.valid().toString());
        File resolved = config.artifactDir(new File("/data/local/tmp/slm-edge/runs/r1/run_config.json"));
        assertEquals(new File("/data/local/tmp/slm-edge/runs/r1/artifact"), resolved);
    }

    @Test
    public void namesTheMissingField() {
        assertEquals("run config is missing decode_tokens", errorFor(c -> c.remove("decode_tokens")));
        assertEquals("run config is missing artifact.vocab_size",
                errorFor(c -> c.getAsJsonObject("artifact").remove("vocab_size")));
    }

    @Test
    public void rejectsWrongTypesAndRanges() {
        assertTrue(errorFor(c -> c.addProperty("repeats", "five")).contains("repeats must be an integer"));
        assertTrue(errorFor(c -> c.addProperty("repeats", 2.5)).contains("repeats must be an integer"));
        assertTrue(errorFor(c -> c.addProperty("repeats", 0)).contains("repeats must be between 1 and 1000"));
        assertTrue(errorFor(c -> c.addProperty("warmup", 101)).contains("warmup must be between 0 and 100"));
        assertTrue(errorFor(c -> c.add("threads", new JsonArray())).contains("threads must be a non-empty list"));
        assertTrue(errorFor(c -> c.getAsJsonArray("prompt_lengths").add(0)).contains("prompt_lengths[2] must be between 1"));
        assertTrue(errorFor(c -> c.addProperty("sample_interval_ms", 0)).contains("sample_interval_ms must be above 0"));
        assertTrue(errorFor(c -> c.addProperty("memory_sampling", "yes")).contains("memory_sampling must be true or false"));
    }

    @Test
    public void rejectsUnknownEnginesModesAndFields() {
        assertTrue(errorFor(c -> c.getAsJsonObject("artifact").addProperty("engine", "tflite"))
                .contains("artifact.engine must be one of executorch, onnxruntime, onnxruntime-genai, not tflite"));
        assertTrue(errorFor(c -> c.addProperty("mode", "fast")).contains("mode must be one of steps, llm_runner"));
        assertTrue(errorFor(c -> c.addProperty("turbo", true)).contains("unknown field turbo"));
        assertTrue(errorFor(c -> c.getAsJsonObject("artifact").addProperty("size", 1)).contains("unknown field artifact.size"));
    }

    @Test
    public void rejectsABadHashSchemaAndTraceFile() {
        assertTrue(errorFor(c -> c.getAsJsonObject("artifact").addProperty("manifest_sha256", "ABC"))
                .contains("manifest_sha256 must be 64 lowercase hex digits"));
        assertTrue(errorFor(c -> c.addProperty("schema", "other")).contains("schema must be \"slm-edge/run-config\""));
        assertTrue(errorFor(c -> c.addProperty("schema_version", 99)).contains("newer than this app reads"));
        assertTrue(errorFor(c -> c.addProperty("trace_file", "../x.json")).contains("trace_file must be a plain file name"));
    }

    private static String evalErrorFor(Consumer<JsonObject> breakIt) {
        JsonObject config = TestConfigs.validEval();
        breakIt.accept(config);
        return assertThrows(ConfigException.class, () -> RunConfig.parse(config.toString())).getMessage();
    }

    private static JsonArray chunks(JsonObject config) {
        return config.getAsJsonObject("eval").getAsJsonArray("chunks");
    }

    @Test
    public void parsesAnEvalConfigWithoutTheMeasurementMatrix() throws Exception {
        RunConfig config = RunConfig.parse(TestConfigs.validEval().toString());
        assertEquals("eval", config.mode);
        assertEquals(3, config.evalChunks.size());
        assertArrayEquals(new int[] {5, 17}, config.evalChunks.get(0));
        assertArrayEquals(new int[] {95, 0, 11, 64, 64, 8}, config.evalChunks.get(1));
        assertEquals(List.of(2), config.threads);
        assertEquals(List.of(), config.promptLengths);
        assertEquals(40, config.longestSequence()); // the longest chunk, not prompt + decode
        assertNull(RunConfig.parse(TestConfigs.valid().toString()).evalChunks);
    }

    @Test
    public void rejectsBadEvalChunksInOneLine() {
        assertEquals("run config field eval.chunks[1] must have at least 2 tokens, not 1",
                evalErrorFor(c -> chunks(c).set(1, JsonParser.parseString("[7]"))));
        assertEquals("run config field eval.chunks[0][1] must be a token id between 0 and 95 (artifact.vocab_size 96), not 96",
                evalErrorFor(c -> chunks(c).set(0, JsonParser.parseString("[5, 96]"))));
        assertEquals("run config field eval.chunks[0][0] must be a token id between 0 and 95 (artifact.vocab_size 96), not -1",
                evalErrorFor(c -> chunks(c).set(0, JsonParser.parseString("[-1, 3]"))));
        assertEquals("run config field eval.chunks[0][1] must be an integer, not 2.5",
                evalErrorFor(c -> chunks(c).set(0, JsonParser.parseString("[1, 2.5]"))));
        assertEquals("run config field eval.chunks[2] must be a list of token ids, not 4",
                evalErrorFor(c -> chunks(c).set(2, JsonParser.parseString("4"))));
        assertEquals("run config field eval.chunks must be a non-empty list of token lists",
                evalErrorFor(c -> c.getAsJsonObject("eval").add("chunks", new JsonArray())));
        assertTrue(evalErrorFor(c -> c.getAsJsonObject("eval").addProperty("stride", 4))
                .contains("unknown field eval.stride"));
    }

    @Test
    public void evalIsPresentExactlyInModeEvalWithOneThreadCountAndNoOps() {
        assertEquals("run config is missing eval", evalErrorFor(c -> c.remove("eval")));
        assertEquals("run config field eval is only for mode eval, not steps",
                evalErrorFor(c -> c.addProperty("mode", "steps")));
        assertEquals("run config field eval is only for mode eval, not steps",
                errorFor(c -> c.add("eval", TestConfigs.validEval().get("eval"))));
        assertEquals("run config field threads must have exactly one entry in mode eval, not 2",
                evalErrorFor(c -> c.add("threads", JsonParser.parseString("[1, 2]"))));
        assertEquals("run config field ops must be false in mode eval", evalErrorFor(c -> c.addProperty("ops", true)));
        assertEquals("run config field decode_tokens must be absent in mode eval (it scores the eval chunks instead)",
                evalErrorFor(c -> c.addProperty("decode_tokens", 5)));
        assertEquals("run config field prompt_lengths must be absent in mode eval (it scores the eval chunks instead)",
                evalErrorFor(c -> c.add("prompt_lengths", JsonParser.parseString("[4]"))));
    }

    // --- mode sustained and the cool-down gate ------------------------------------------------

    @Test
    public void parsesSustainedAndTheCooldownGate() throws Exception {
        JsonObject json = TestConfigs.validSustained(4.5, 64);
        json.add("cooldown", JsonParser.parseString("{\"max_wait_s\": 60, \"temp_c\": 40, \"within_c\": null}"));
        RunConfig config = RunConfig.parse(json.toString());
        assertEquals("sustained", config.mode);
        assertTrue(config.sustained());
        assertEquals(4.5, config.sustainedS, 0);
        assertEquals(5, config.longestSequence()); // the first prompt length and one decode step
        assertEquals(new Cooldown.Settings(60, 40.0, null, Cooldown.DEFAULT_POLL_S), config.cooldown);
        json.add("cooldown", JsonParser.parseString("{\"max_wait_s\": 0, \"within_c\": 3, \"poll_s\": 0.25}"));
        assertEquals(new Cooldown.Settings(0, null, 3.0, 0.25), RunConfig.parse(json.toString()).cooldown);
        RunConfig steps = RunConfig.parse(TestConfigs.valid().toString());
        assertNull(steps.cooldown);
        assertNull(steps.sustainedS);
        assertFalse(steps.sustained());
    }

    private static String sustainedErrorFor(Consumer<JsonObject> breakIt) {
        JsonObject config = TestConfigs.validSustained(2, 64);
        config.add("cooldown", JsonParser.parseString("{\"max_wait_s\": 60, \"temp_c\": 40}"));
        breakIt.accept(config);
        return assertThrows(ConfigException.class, () -> RunConfig.parse(config.toString())).getMessage();
    }

    private static JsonObject gate(JsonObject config) {
        return config.getAsJsonObject("cooldown");
    }

    @Test
    public void rejectsBadSustainedAndCooldownFieldsInOneLine() {
        assertEquals("run config is missing sustained_s (mode sustained decodes for that many seconds)",
                sustainedErrorFor(c -> c.remove("sustained_s")));
        assertEquals("run config field sustained_s must be above 0 and at most 86400",
                sustainedErrorFor(c -> c.addProperty("sustained_s", 0)));
        assertEquals("run config field sustained_s must be above 0 and at most 86400",
                sustainedErrorFor(c -> c.addProperty("sustained_s", 86401)));
        assertEquals("run config field sustained_s must be a number", sustainedErrorFor(c -> c.addProperty("sustained_s", "4")));
        assertEquals("run config is missing cooldown.max_wait_s", sustainedErrorFor(c -> gate(c).remove("max_wait_s")));
        assertEquals("run config field cooldown.max_wait_s must be at least 0",
                sustainedErrorFor(c -> gate(c).addProperty("max_wait_s", -1)));
        assertEquals("run config field cooldown.poll_s must be above 0 and at most 60",
                sustainedErrorFor(c -> gate(c).addProperty("poll_s", 0)));
        assertEquals("run config field cooldown.poll_s must be above 0 and at most 60",
                sustainedErrorFor(c -> gate(c).addProperty("poll_s", 61)));
        assertEquals("run config field cooldown.within_c must be at least 0",
                sustainedErrorFor(c -> gate(c).addProperty("within_c", -2)));
        assertEquals("run config field cooldown.temp_c must be a number",
                sustainedErrorFor(c -> gate(c).addProperty("temp_c", "hot")));
        assertEquals("run config field cooldown must be an object", sustainedErrorFor(c -> c.add("cooldown", null)));
        assertTrue(sustainedErrorFor(c -> gate(c).addProperty("target", 1)).contains("unknown field cooldown.target"));
    }

    // --- unplug_wait and cpus ------------------------------------------------------------------

    @Test
    public void parsesUnplugWaitWithTheRunnersDefaults() throws Exception {
        JsonObject json = TestConfigs.valid();
        json.add("unplug_wait", JsonParser.parseString("{\"max_wait_s\": 300}"));
        assertEquals(new UnplugGate.Settings(300, 10, 1), RunConfig.parse(json.toString()).unplugWait);
        json.add("unplug_wait", JsonParser.parseString("{\"max_wait_s\": 0, \"settle_s\": 600, \"poll_s\": 0.25}"));
        assertEquals(new UnplugGate.Settings(0, 600, 0.25), RunConfig.parse(json.toString()).unplugWait);
        assertNull(RunConfig.parse(TestConfigs.valid().toString()).unplugWait);
    }

    @Test
    public void rejectsBadUnplugWaitFieldsInOneLine() {
        assertEquals("run config is missing unplug_wait.max_wait_s",
                errorFor(c -> c.add("unplug_wait", JsonParser.parseString("{\"settle_s\": 5}"))));
        assertEquals("run config field unplug_wait.max_wait_s must be at least 0",
                errorFor(c -> c.add("unplug_wait", JsonParser.parseString("{\"max_wait_s\": -1}"))));
        assertEquals("run config field unplug_wait.settle_s must be between 0 and 600",
                errorFor(c -> c.add("unplug_wait", JsonParser.parseString("{\"max_wait_s\": 1, \"settle_s\": 601}"))));
        assertEquals("run config field unplug_wait.poll_s must be above 0 and at most 60",
                errorFor(c -> c.add("unplug_wait", JsonParser.parseString("{\"max_wait_s\": 1, \"poll_s\": 0}"))));
        assertEquals("run config field unplug_wait must be an object", errorFor(c -> c.add("unplug_wait", null)));
        assertTrue(errorFor(c -> c.add("unplug_wait", JsonParser.parseString("{\"max_wait_s\": 1, \"until\": 2}")))
                .contains("unknown field unplug_wait.until"));
    }

    @Test
    public void parsesCpusSortedForEveryEngineAndThreadCount() throws Exception {
        JsonObject json = TestConfigs.valid();
        json.add("cpus", JsonParser.parseString("[3, 1]"));
        assertEquals(List.of(1, 3), RunConfig.parse(json.toString()).cpus); // a set: sorted
        assertNull(RunConfig.parse(TestConfigs.valid().toString()).cpus);
        assertEquals("run config field cpus names core 1 twice",
                errorFor(c -> c.add("cpus", JsonParser.parseString("[1, 0, 1]"))));
        assertEquals("run config field cpus must be a non-empty list of integers",
                errorFor(c -> c.add("cpus", JsonParser.parseString("[]"))));
        assertEquals("run config field cpus[0] must be between 0 and 1023, not -1",
                errorFor(c -> c.add("cpus", JsonParser.parseString("[-1]"))));
        // the whole process is pinned (CpuPinning), so every engine and thread count takes cpus, 1 thread too
        for (String engine : List.of("onnxruntime", "executorch")) {
            JsonObject config = TestConfigs.valid();
            config.getAsJsonObject("artifact").addProperty("engine", engine);
            config.add("threads", JsonParser.parseString("[1, 2]"));
            config.add("cpus", JsonParser.parseString("[1]"));
            assertEquals(List.of(1), RunConfig.parse(config.toString()).cpus);
        }
    }

    /**
     * The app reads what the host's schema allows and refuses what it refuses, for the new fields, with
     * a refusal of its own: a sustained run without sustained_s.
     */
    @Test
    public void acceptsWhatTheSchemaAcceptsForTheNewFields() throws Exception {
        JsonObject schema = SchemaCheck.schema("run_config");
        assumeTrue("the repository's schemas are not here (the app built on its own)", schema != null);
        List<Consumer<JsonObject>> variants = List.of(
                c -> { },
                c -> c.addProperty("sustained_s", 0.5),
                c -> c.addProperty("sustained_s", 0),
                c -> c.addProperty("sustained_s", -3),
                c -> c.addProperty("sustained_s", 86400),
                c -> c.addProperty("sustained_s", 86400.5),
                c -> c.addProperty("sustained_s", "10"),
                c -> c.add("cooldown", JsonParser.parseString("{\"max_wait_s\": 0}")),
                c -> c.add("cooldown", JsonParser.parseString("{\"max_wait_s\": 9.5, \"temp_c\": null, \"within_c\": 0, \"poll_s\": 60}")),
                c -> c.add("cooldown", JsonParser.parseString("{\"max_wait_s\": 9, \"temp_c\": -5.5, \"within_c\": null}")),
                c -> c.add("cooldown", JsonParser.parseString("{}")),
                c -> c.add("cooldown", JsonParser.parseString("{\"max_wait_s\": -0.1}")),
                c -> c.add("cooldown", JsonParser.parseString("{\"max_wait_s\": 1, \"within_c\": -1}")),
                c -> c.add("cooldown", JsonParser.parseString("{\"max_wait_s\": 1, \"poll_s\": 0}")),
                c -> c.add("cooldown", JsonParser.parseString("{\"max_wait_s\": 1, \"poll_s\": 60.5}")),
                c -> c.add("cooldown", JsonParser.parseString("{\"max_wait_s\": 1, \"temp_c\": \"40\"}")),
                c -> c.add("cooldown", JsonParser.parseString("{\"max_wait_s\": 1, \"extra\": 1}")),
                c -> c.add("cooldown", JsonParser.parseString("[]")),
                c -> c.add("cooldown", null),
                c -> c.add("unplug_wait", JsonParser.parseString("{\"max_wait_s\": 0}")),
                c -> c.add("unplug_wait", JsonParser.parseString("{\"max_wait_s\": 1800, \"settle_s\": 0, \"poll_s\": 60}")),
                c -> c.add("unplug_wait", JsonParser.parseString("{\"max_wait_s\": 1, \"settle_s\": 600}")),
                c -> c.add("unplug_wait", JsonParser.parseString("{\"max_wait_s\": 1, \"settle_s\": 600.5}")),
                c -> c.add("unplug_wait", JsonParser.parseString("{\"max_wait_s\": 1, \"settle_s\": -1}")),
                c -> c.add("unplug_wait", JsonParser.parseString("{\"max_wait_s\": 1, \"poll_s\": 0}")),
                c -> c.add("unplug_wait", JsonParser.parseString("{\"max_wait_s\": 1, \"poll_s\": 61}")),
                c -> c.add("unplug_wait", JsonParser.parseString("{\"max_wait_s\": -0.5}")),
                c -> c.add("unplug_wait", JsonParser.parseString("{\"settle_s\": 1}")),
                c -> c.add("unplug_wait", JsonParser.parseString("{\"max_wait_s\": \"1\"}")),
                c -> c.add("unplug_wait", JsonParser.parseString("{\"max_wait_s\": 1, \"extra\": 1}")),
                c -> c.add("unplug_wait", JsonParser.parseString("[]")),
                c -> c.add("cpus", JsonParser.parseString("[0]")),
                c -> c.add("cpus", JsonParser.parseString("[5, 0, 1023]")),
                c -> c.add("cpus", JsonParser.parseString("[0, 0]")),
                c -> c.add("cpus", JsonParser.parseString("[]")),
                c -> c.add("cpus", JsonParser.parseString("[1024]")),
                c -> c.add("cpus", JsonParser.parseString("[-1]")),
                c -> c.add("cpus", JsonParser.parseString("[1.5]")),
                c -> c.add("cpus", JsonParser.parseString("\"0-3\"")));
        for (String mode : List.of("steps", "sustained")) {
            for (int i = 0; i < variants.size(); i++) {
                JsonObject config = "steps".equals(mode) ? TestConfigs.valid() : TestConfigs.validSustained(3, 64);
                variants.get(i).accept(config);
                boolean schemaAccepts = SchemaCheck.errors(schema, config).isEmpty();
                boolean appAccepts;
                try {
                    RunConfig.parse(config.toString());
                    appAccepts = true;
                } catch (ConfigException e) {
                    appAccepts = false;
                }
                assertEquals(mode + " variant " + i + ": " + config + " " + SchemaCheck.errors(schema, config),
                        schemaAccepts, appAccepts);
            }
        }
        JsonObject withoutSeconds = TestConfigs.validSustained(3, 64);
        withoutSeconds.remove("sustained_s");
        assertEquals(List.of(), SchemaCheck.errors(schema, withoutSeconds)); // the schema has no mode-dependent rule here
        JsonObject pinned = TestConfigs.valid();
        pinned.add("cpus", JsonParser.parseString("[0]"));
        assertEquals(List.of(), SchemaCheck.errors(schema, pinned));
        assertEquals(List.of(), SchemaCheck.errors(schema, TestConfigs.validEval()));
    }

    @Test
    public void rejectsTextThatIsNotAJsonObject() {
        assertTrue(assertThrows(ConfigException.class, () -> RunConfig.parse("{\"schema\": ")).getMessage()
                .startsWith("run config is not valid JSON"));
        assertEquals("run config is not a JSON object",
                assertThrows(ConfigException.class, () -> RunConfig.parse("[1, 2]")).getMessage());
    }

    @Test
    public void saysWhenTheFileCannotBeRead() {
        String message = assertThrows(ConfigException.class, () -> RunConfig.read(new File("/nonexistent/run_config.json")))
                .getMessage();
        assertTrue(message.startsWith("cannot read run config /nonexistent/run_config.json"));
    }
}
