package dev.slmedge.profiler.core;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;

/** Valid run configs and artifact folders for the tests to start from and break. */
final class TestConfigs {
    private TestConfigs() {}

    static JsonObject valid() {
        return JsonParser.parseString("{"
                + "\"schema\":\"slm-edge/run-config\",\"schema_version\":1,"
                + "\"artifact\":{\"dir\":\"artifact\",\"model_file\":\"model.pte\",\"engine\":\"executorch\","
                + "\"manifest_sha256\":\"" + "0".repeat(64) + "\",\"max_seq_len\":64,\"vocab_size\":96,"
                + "\"bos_id\":null,\"tokenizer_file\":null},"
                + "\"prompt_lengths\":[4,12],\"decode_tokens\":5,\"repeats\":2,\"warmup\":1,\"threads\":[1,2]}")
                .getAsJsonObject();
    }

    /** Mode eval on the same artifact: three chunks (2, 6 and 40 tokens), one thread count (2). */
    static JsonObject validEval() {
        JsonObject config = valid();
        for (String key : new String[] {"prompt_lengths", "decode_tokens", "repeats", "warmup"}) {
            config.remove(key);
        }
        config.addProperty("mode", "eval");
        config.add("threads", JsonParser.parseString("[2]"));
        JsonArray chunks = new JsonArray();
        chunks.add(JsonParser.parseString("[5, 17]"));
        chunks.add(JsonParser.parseString("[95, 0, 11, 64, 64, 8]"));
        JsonArray long40 = new JsonArray();
        for (int token : PromptGenerator.prompt(40, 96, 3)) {
            long40.add(token);
        }
        chunks.add(long40);
        JsonObject eval = new JsonObject();
        eval.add("chunks", chunks);
        config.add("eval", eval);
        return config;
    }

    /** Mode sustained on the same artifact: sustained_s seconds, a context of maxSeqLen tokens, one thread count (1). */
    static JsonObject validSustained(double sustainedS, int maxSeqLen) {
        JsonObject config = valid();
        config.addProperty("mode", "sustained");
        config.addProperty("sustained_s", sustainedS);
        config.getAsJsonObject("artifact").addProperty("max_seq_len", maxSeqLen);
        config.add("threads", JsonParser.parseString("[1]"));
        return config;
    }

    /** A folder with a manifest and a run_config.json whose manifest_sha256 matches it. */
    static File writeRun(File root, JsonObject config) throws IOException {
        File artifact = new File(root, "artifact");
        artifact.mkdirs();
        File manifest = new File(artifact, "manifest.json");
        Files.write(manifest.toPath(), "{\"schema\":\"slm-edge/manifest\"}".getBytes(StandardCharsets.UTF_8));
        if (config.getAsJsonObject("artifact").get("manifest_sha256").getAsString().equals("0".repeat(64))) {
            config.getAsJsonObject("artifact").addProperty("manifest_sha256", TraceWriter.sha256Hex(manifest));
        }
        File configFile = new File(root, "run_config.json");
        Files.write(configFile.toPath(), config.toString().getBytes(StandardCharsets.UTF_8));
        return configFile;
    }
}
