package dev.slmedge.profiler.core;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import com.google.gson.JsonPrimitive;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Set;

/**
 * The run config (slm_edge/records/schemas/run_config.schema.json), checked field by field so a bad config
 * fails with one line naming the field rather than somewhere inside the loop.
 */
public final class RunConfig {
    public static final String SCHEMA = Contract.CONFIG_SCHEMA;
    public static final List<String> ENGINES = List.of("executorch", "onnxruntime", "onnxruntime-genai");
    public static final List<String> MODES = List.of("steps", "llm_runner", "eval", "sustained");
    public static final String EVAL = "eval";
    public static final String SUSTAINED = "sustained";
    // The Linux runner's default (the schema's 10 ms costs ~4% of a decode step on 2 cores).
    static final double DEFAULT_SAMPLE_INTERVAL_MS = 50.0;

    private static final Set<String> TOP_LEVEL = Set.of("schema", "schema_version", "artifact", "mode",
            "prompt_lengths", "decode_tokens", "repeats", "warmup", "threads", "sample_interval_ms",
            "memory_sampling", "ops", "seed", "trace_file", "eval", "sustained_s", "cooldown", "unplug_wait", "cpus");
    // The measurement matrix of steps/llm_runner: an eval run scores given tokens instead.
    private static final List<String> MATRIX = List.of("prompt_lengths", "decode_tokens", "repeats", "warmup");
    private static final Set<String> EVAL_FIELDS = Set.of("chunks");
    private static final Set<String> COOLDOWN_FIELDS = Set.of("max_wait_s", "temp_c", "within_c", "poll_s");
    private static final Set<String> UNPLUG_WAIT_FIELDS = Set.of("max_wait_s", "settle_s", "poll_s");
    static final double MAX_SETTLE_S = 600;
    static final int MAX_CPU = 1023; // the schema's bound
    static final double MAX_SUSTAINED_S = 86400;
    private static final Set<String> ARTIFACT = Set.of("dir", "model_file", "engine", "manifest_sha256",
            "max_seq_len", "vocab_size", "bos_id", "tokenizer_file");

    public final JsonObject raw;
    public final Artifact artifact;
    public final String mode;
    public final List<Integer> promptLengths;
    public final int decodeTokens;
    public final int repeats;
    public final int warmup;
    public final List<Integer> threads;
    public final double sampleIntervalMs;
    public final boolean memorySampling;
    public final boolean ops;
    public final long seed;
    public final String traceFile;
    /** Mode eval: the token sequences to score, each at least 2 tokens; null in the other modes. */
    public final List<int[]> evalChunks;
    /** Mode sustained: how long to decode without a pause, in seconds; null when the config has none. */
    public final Double sustainedS;
    /** The cool-down gate before each measured repeat (and the sustained run); null: no gate. */
    public final Cooldown.Settings cooldown;
    /** Before the model loads, wait until the device runs on battery (a detached run); null: no wait. */
    public final UnplugGate.Settings unplugWait;
    /**
     * The cores (0-based, sorted) to pin the whole process to before anything loads (CpuPinning), every
     * engine and mode alike; null: not pinned.
     */
    public final List<Integer> cpus;

    /** What the config says about the model files (artifact.dir is relative to the config file). */
    public static final class Artifact {
        public final String dir;
        public final String modelFile;
        public final String engine;
        public final String manifestSha256;
        public final int maxSeqLen;
        public final int vocabSize;
        public final Integer bosId;
        public final String tokenizerFile;

        private Artifact(Fields f) throws ConfigException {
            f.onlyKnown(ARTIFACT);
            dir = f.string("dir");
            modelFile = f.string("model_file");
            engine = f.oneOf("engine", ENGINES, null);
            manifestSha256 = f.string("manifest_sha256");
            if (!manifestSha256.matches("[0-9a-f]{64}")) {
                throw f.error("manifest_sha256", "must be 64 lowercase hex digits");
            }
            maxSeqLen = f.integer("max_seq_len", 1, Integer.MAX_VALUE, null);
            vocabSize = f.integer("vocab_size", 1, Integer.MAX_VALUE, null);
            bosId = f.nullableInteger("bos_id");
            tokenizerFile = f.nullableString("tokenizer_file");
        }
    }

    private RunConfig(JsonObject raw) throws ConfigException {
        this.raw = raw;
        Fields f = new Fields(raw, "");
        f.onlyKnown(TOP_LEVEL);
        if (!SCHEMA.equals(f.string("schema"))) {
            throw f.error("schema", "must be \"" + SCHEMA + "\"");
        }
        int version = f.integer("schema_version", 1, Integer.MAX_VALUE, null);
        if (version > Contract.CONFIG_SCHEMA_VERSION) {
            throw f.error("schema_version", version + " is newer than this app reads ("
                    + Contract.CONFIG_SCHEMA_VERSION + "): update the app (slm-edge app install)");
        }
        artifact = new Artifact(f.object("artifact"));
        mode = f.oneOf("mode", MODES, "steps");
        boolean eval = EVAL.equals(mode);
        if (eval) {
            for (String key : MATRIX) {
                if (f.has(key)) {
                    throw f.error(key, "must be absent in mode eval (it scores the eval chunks instead)");
                }
            }
            promptLengths = List.of();
            decodeTokens = 0;
            repeats = 0;
            warmup = 0;
            evalChunks = chunks(f.object("eval"), artifact.vocabSize);
        } else {
            if (f.has("eval")) {
                throw f.error("eval", "is only for mode eval, not " + mode);
            }
            promptLengths = f.integers("prompt_lengths", 1, Integer.MAX_VALUE);
            decodeTokens = f.integer("decode_tokens", 1, Integer.MAX_VALUE, null);
            repeats = f.integer("repeats", 1, 1000, null);
            warmup = f.integer("warmup", 0, 100, null);
            evalChunks = null;
        }
        threads = f.integers("threads", 1, 256);
        if (eval && threads.size() != 1) {
            throw f.error("threads", "must have exactly one entry in mode eval, not " + threads.size());
        }
        sampleIntervalMs = f.number("sample_interval_ms", DEFAULT_SAMPLE_INTERVAL_MS);
        if (!(sampleIntervalMs > 0 && sampleIntervalMs <= 10000)) {
            throw f.error("sample_interval_ms", "must be above 0 and at most 10000");
        }
        memorySampling = f.bool("memory_sampling", true);
        ops = f.bool("ops", false);
        if (eval && ops) {
            throw f.error("ops", "must be false in mode eval");
        }
        seed = f.integer("seed", Integer.MIN_VALUE, Integer.MAX_VALUE, 0);
        String file = f.has("trace_file") ? f.string("trace_file") : Contract.TRACE_FILE;
        if (file.contains("/") || file.equals("..") || file.equals(".")) {
            throw f.error("trace_file", "must be a plain file name");
        }
        traceFile = file;
        // The schema allows sustained_s in any mode (the other modes ignore it); sustained cannot run without it.
        sustainedS = f.has("sustained_s") ? f.number("sustained_s", 0) : null;
        if (sustainedS != null && !(sustainedS > 0 && sustainedS <= MAX_SUSTAINED_S)) {
            throw f.error("sustained_s", "must be above 0 and at most " + (int) MAX_SUSTAINED_S);
        }
        if (sustained() && sustainedS == null) {
            throw new ConfigException("run config is missing sustained_s (mode sustained decodes for that many seconds)");
        }
        cooldown = f.has("cooldown") ? cooldown(f.object("cooldown")) : null;
        unplugWait = f.has("unplug_wait") ? unplugWait(f.object("unplug_wait")) : null;
        cpus = f.has("cpus") ? cpus(f) : null;
    }

    /** cpus: distinct core indices (the schema's bounds), sorted. */
    private static List<Integer> cpus(Fields f) throws ConfigException {
        List<Integer> cores = new ArrayList<>(f.integers("cpus", 0, MAX_CPU));
        Collections.sort(cores);
        for (int i = 1; i < cores.size(); i++) {
            if (cores.get(i).equals(cores.get(i - 1))) {
                throw f.error("cpus", "names core " + cores.get(i) + " twice");
            }
        }
        return Collections.unmodifiableList(cores);
    }

    /** Mode sustained: decode without a pause for sustained_s seconds at the first thread count. */
    public boolean sustained() {
        return SUSTAINED.equals(mode);
    }

    public static RunConfig parse(String json) throws ConfigException {
        JsonElement root;
        try {
            root = JsonParser.parseString(json);
        } catch (JsonParseException e) {
            throw new ConfigException("run config is not valid JSON: " + firstLine(e.getMessage()));
        }
        if (!root.isJsonObject()) {
            throw new ConfigException("run config is not a JSON object");
        }
        return new RunConfig(root.getAsJsonObject());
    }

    public static RunConfig read(File file) throws ConfigException {
        try {
            return parse(new String(Files.readAllBytes(file.toPath()), StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new ConfigException("cannot read run config " + file + ": " + e);
        }
    }

    /** The artifact folder: relative to the config file's folder, as on Linux. */
    public File artifactDir(File configFile) {
        File dir = new File(artifact.dir);
        return dir.isAbsolute() ? dir : new File(configFile.getAbsoluteFile().getParentFile(), artifact.dir);
    }

    /** What the artifact's max sequence length must hold: the longest prompt + decode, or the longest eval chunk. */
    public int longestSequence() {
        if (evalChunks != null) {
            int longest = 0;
            for (int[] chunk : evalChunks) {
                longest = Math.max(longest, chunk.length);
            }
            return longest;
        }
        if (sustained()) { // decodes to the end of the context, then prefills again
            return promptLengths.get(0) + 1;
        }
        return Collections.max(promptLengths) + decodeTokens;
    }

    /** cooldown: max_wait_s (required, at least 0), temp_c and within_c (numbers or null), poll_s (above 0, at most 60). */
    private static Cooldown.Settings cooldown(Fields gate) throws ConfigException {
        gate.onlyKnown(COOLDOWN_FIELDS);
        double maxWaitS = gate.requiredNumber("max_wait_s");
        if (!(maxWaitS >= 0)) {
            throw gate.error("max_wait_s", "must be at least 0");
        }
        Double withinC = gate.nullableNumber("within_c");
        if (withinC != null && !(withinC >= 0)) {
            throw gate.error("within_c", "must be at least 0");
        }
        double pollS = gate.number("poll_s", Cooldown.DEFAULT_POLL_S);
        if (!(pollS > 0 && pollS <= 60)) {
            throw gate.error("poll_s", "must be above 0 and at most 60");
        }
        return new Cooldown.Settings(maxWaitS, gate.nullableNumber("temp_c"), withinC, pollS);
    }

    /** unplug_wait: max_wait_s (required, at least 0), settle_s (0 to 600), poll_s (above 0, at most 60). */
    private static UnplugGate.Settings unplugWait(Fields gate) throws ConfigException {
        gate.onlyKnown(UNPLUG_WAIT_FIELDS);
        double maxWaitS = gate.requiredNumber("max_wait_s");
        if (!(maxWaitS >= 0)) {
            throw gate.error("max_wait_s", "must be at least 0");
        }
        double settleS = gate.number("settle_s", UnplugGate.DEFAULT_SETTLE_S);
        if (!(settleS >= 0 && settleS <= MAX_SETTLE_S)) {
            throw gate.error("settle_s", "must be between 0 and " + (int) MAX_SETTLE_S);
        }
        double pollS = gate.number("poll_s", UnplugGate.DEFAULT_POLL_S);
        if (!(pollS > 0 && pollS <= 60)) {
            throw gate.error("poll_s", "must be above 0 and at most 60");
        }
        return new UnplugGate.Settings(maxWaitS, settleS, pollS);
    }

    /** eval.chunks: a non-empty list of token lists, each of at least 2 ids in [0, vocabSize). */
    private static List<int[]> chunks(Fields eval, int vocabSize) throws ConfigException {
        eval.onlyKnown(EVAL_FIELDS);
        JsonArray array = eval.nonEmptyArray("chunks", "a non-empty list of token lists");
        List<int[]> out = new ArrayList<>(array.size());
        for (int c = 0; c < array.size(); c++) {
            String key = "chunks[" + c + "]";
            JsonElement item = array.get(c);
            if (!item.isJsonArray()) {
                throw eval.error(key, "must be a list of token ids, not " + item);
            }
            if (item.getAsJsonArray().size() < 2) { // one token predicts nothing: the last token is never fed
                throw eval.error(key, "must have at least 2 tokens, not " + item.getAsJsonArray().size());
            }
            JsonArray tokens = item.getAsJsonArray();
            int[] chunk = new int[tokens.size()];
            for (int i = 0; i < chunk.length; i++) {
                String tokenKey = key + "[" + i + "]";
                JsonElement token = tokens.get(i);
                if (!token.isJsonPrimitive()) {
                    throw eval.error(tokenKey, "must be an integer");
                }
                chunk[i] = eval.checkedInteger(tokenKey, token.getAsJsonPrimitive(), Integer.MIN_VALUE,
                        Integer.MAX_VALUE);
                if (chunk[i] < 0 || chunk[i] >= vocabSize) {
                    throw eval.error(tokenKey, "must be a token id between 0 and " + (vocabSize - 1)
                            + " (artifact.vocab_size " + vocabSize + "), not " + chunk[i]);
                }
            }
            out.add(chunk);
        }
        return Collections.unmodifiableList(out);
    }

    static String firstLine(String text) {
        if (text == null) {
            return "";
        }
        int newline = text.indexOf('\n');
        return newline < 0 ? text : text.substring(0, newline);
    }

    /** Typed reads from one JSON object, each failing with the field's path. */
    private static final class Fields {
        private final JsonObject object;
        private final String prefix;

        Fields(JsonObject object, String prefix) {
            this.object = object;
            this.prefix = prefix;
        }

        ConfigException error(String key, String what) {
            return new ConfigException("run config field " + prefix + key + " " + what);
        }

        boolean has(String key) {
            return object.has(key);
        }

        void onlyKnown(Set<String> known) throws ConfigException {
            for (String key : object.keySet()) {
                if (!known.contains(key)) {
                    throw new ConfigException("run config has an unknown field " + prefix + key
                            + " (a newer host? update the app with slm-edge app install)");
                }
            }
        }

        private JsonElement required(String key) throws ConfigException {
            JsonElement value = object.get(key);
            if (value == null) {
                throw new ConfigException("run config is missing " + prefix + key);
            }
            return value;
        }

        private JsonPrimitive primitive(String key, String kind) throws ConfigException {
            JsonElement value = required(key);
            if (!value.isJsonPrimitive()) {
                throw error(key, "must be " + kind);
            }
            return value.getAsJsonPrimitive();
        }

        String string(String key) throws ConfigException {
            JsonPrimitive value = primitive(key, "a string");
            if (!value.isString() || value.getAsString().isEmpty()) {
                throw error(key, "must be a non-empty string");
            }
            return value.getAsString();
        }

        String nullableString(String key) throws ConfigException {
            return object.has(key) && !object.get(key).isJsonNull() ? string(key) : null;
        }

        String oneOf(String key, List<String> allowed, String fallback) throws ConfigException {
            if (fallback != null && !object.has(key)) {
                return fallback;
            }
            String value = string(key);
            if (!allowed.contains(value)) {
                throw error(key, "must be one of " + String.join(", ", allowed) + ", not " + value);
            }
            return value;
        }

        int integer(String key, long min, long max, Integer fallback) throws ConfigException {
            if (fallback != null && !object.has(key)) {
                return fallback;
            }
            return checkedInteger(key, primitive(key, "an integer"), min, max);
        }

        private int checkedInteger(String key, JsonPrimitive value, long min, long max) throws ConfigException {
            if (!value.isNumber()) {
                throw error(key, "must be an integer");
            }
            double number = value.getAsDouble();
            if (number != Math.rint(number) || Double.isInfinite(number)) {
                throw error(key, "must be an integer, not " + value);
            }
            if (number < min || number > max) {
                throw error(key, "must be between " + min + " and " + max + ", not " + value);
            }
            return (int) number;
        }

        Integer nullableInteger(String key) throws ConfigException {
            if (!object.has(key) || object.get(key).isJsonNull()) {
                return null;
            }
            return integer(key, Integer.MIN_VALUE, Integer.MAX_VALUE, null);
        }

        JsonArray nonEmptyArray(String key, String kind) throws ConfigException {
            JsonElement value = required(key);
            if (!value.isJsonArray() || value.getAsJsonArray().isEmpty()) {
                throw error(key, "must be " + kind);
            }
            return value.getAsJsonArray();
        }

        List<Integer> integers(String key, long min, long max) throws ConfigException {
            JsonArray array = nonEmptyArray(key, "a non-empty list of integers");
            List<Integer> out = new ArrayList<>();
            for (int i = 0; i < array.size(); i++) {
                JsonElement item = array.get(i);
                if (!item.isJsonPrimitive()) {
                    throw error(key + "[" + i + "]", "must be an integer");
                }
                out.add(checkedInteger(key + "[" + i + "]", item.getAsJsonPrimitive(), min, max));
            }
            return Collections.unmodifiableList(out);
        }

        double number(String key, double fallback) throws ConfigException {
            return object.has(key) ? requiredNumber(key) : fallback;
        }

        double requiredNumber(String key) throws ConfigException {
            JsonPrimitive value = primitive(key, "a number");
            if (!value.isNumber()) {
                throw error(key, "must be a number");
            }
            return value.getAsDouble();
        }

        Double nullableNumber(String key) throws ConfigException {
            return object.has(key) && !object.get(key).isJsonNull() ? requiredNumber(key) : null;
        }

        boolean bool(String key, boolean fallback) throws ConfigException {
            if (!object.has(key)) {
                return fallback;
            }
            JsonPrimitive value = primitive(key, "true or false");
            if (!value.isBoolean()) {
                throw error(key, "must be true or false");
            }
            return value.getAsBoolean();
        }

        Fields object(String key) throws ConfigException {
            JsonElement value = required(key);
            if (!value.isJsonObject()) {
                throw error(key, "must be an object");
            }
            return new Fields(value.getAsJsonObject(), prefix + key + ".");
        }
    }
}
