package dev.slmedge.profiler.core;

import static org.junit.Assert.assertEquals;

import com.google.gson.JsonParser;
import java.util.List;
import java.util.Map;
import org.junit.Test;

public class OrtProfileSummaryTest {
    private static String node(String name, String op, double ts, double dur) {
        return "{\"cat\":\"Node\",\"name\":\"" + name + "_kernel_time\",\"ts\":" + ts + ",\"dur\":" + dur
                + ",\"args\":{\"op_name\":\"" + op + "\"}}";
    }

    @Test
    public void groupsKernelTimeByCategoryAndSplitsRuns() {
        String profile = "[" + String.join(",",
                "{\"cat\":\"Session\",\"name\":\"model_run\",\"ts\":0,\"dur\":999}",
                node("/model/embed_tokens/Gather", "GatherBlockQuantized", 1, 10),
                node("/model/layers.0/attn/GroupQueryAttention", "GroupQueryAttention", 2, 30),
                node("/model/layers.0/mlp/up_proj/MatMul", "MatMulNBits", 3, 40),
                node("/model/layers.0/input_layernorm/SkipLayerNorm", "SkipSimplifiedLayerNormalization", 4, 5),
                node("/lm_head/MatMul", "MatMulNBits", 5, 15),
                "{\"cat\":\"Node\",\"name\":\"/model/layers.0/attn/fence_before\",\"ts\":6,\"dur\":3}",
                // second run (a decode step): nodes seen again
                node("/model/embed_tokens/Gather", "GatherBlockQuantized", 11, 2),
                node("/model/layers.0/attn/GroupQueryAttention", "GroupQueryAttention", 12, 6),
                // third run
                node("/model/embed_tokens/Gather", "GatherBlockQuantized", 21, 4)) + "]";
        List<Map<String, Double>> runs = OrtProfileSummary.parse(JsonParser.parseString(profile));
        assertEquals(3, runs.size());
        assertEquals(Map.of("embedding", 10.0, "attention", 30.0, "ffn", 40.0, "norm", 5.0, "lm_head", 15.0), runs.get(0));
        Map<String, Object> phases = OrtProfileSummary.summarizePhases(runs);
        @SuppressWarnings("unchecked")
        Map<String, Object> decode = (Map<String, Object>) phases.get("decode");
        assertEquals(2, decode.get("steps"));
        assertEquals(6.0, (Double) decode.get("kernel_us"), 1e-9); // (2 + 6 + 4) / 2
        @SuppressWarnings("unchecked")
        Map<String, Map<String, Double>> categories = (Map<String, Map<String, Double>>) decode.get("categories");
        assertEquals(OrtProfileSummary.CATEGORIES, List.copyOf(categories.keySet()));
        assertEquals(0.5, categories.get("embedding").get("share"), 1e-9);
    }

    @Test
    public void anEmptyProfileHasNoPhases() {
        assertEquals(Map.of(), OrtProfileSummary.summarizePhases(OrtProfileSummary.parse(JsonParser.parseString("[]"))));
    }
}
