package dev.slmedge.profiler.core;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.File;
import java.io.IOException;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * onnxruntime's profile (Chrome-trace JSON) → kernel time per op category, prefill and decode apart:
 * the same grouping as slm_edge/runner/ops.py. On the phone there is no ONNX parser, so a node's
 * module path is its name (the builder names nodes by module path, e.g. /model/layers.0/attn/...).
 */
public final class OrtProfileSummary {
    public static final List<String> CATEGORIES = List.of("embedding", "attention", "ffn", "norm", "lm_head", "other");
    private static final String KERNEL_SUFFIX = "_kernel_time";

    private OrtProfileSummary() {}

    public static String category(String scope, String opType) {
        String text = scope.toLowerCase(java.util.Locale.ROOT);
        if (text.contains("lm_head")) {
            return "lm_head";
        }
        if (text.contains("embed") || ("GatherBlockQuantized".equals(opType) && !text.contains("layers"))) {
            return "embedding";
        }
        if (text.contains("norm") || opType.contains("LayerNormalization")) {
            return "norm";
        }
        if (text.contains("attn") || text.contains("attention") || text.contains("rotary")) {
            return "attention";
        }
        if (text.contains("mlp") || text.contains("ffn") || text.contains("feed_forward")) {
            return "ffn";
        }
        return "other";
    }

    /** One map per model run, in order: category → microseconds of kernel time. */
    public static List<Map<String, Double>> parse(File profile) throws IOException {
        try (Reader reader = Files.newBufferedReader(profile.toPath(), StandardCharsets.UTF_8)) {
            return parse(JsonParser.parseReader(reader));
        }
    }

    static List<Map<String, Double>> parse(JsonElement root) {
        List<JsonObject> events = new ArrayList<>();
        if (root.isJsonArray()) {
            for (JsonElement element : root.getAsJsonArray()) {
                if (element.isJsonObject()) {
                    events.add(element.getAsJsonObject());
                }
            }
        }
        events.sort(Comparator.comparingDouble(e -> number(e, "ts")));
        List<Map<String, Double>> runs = new ArrayList<>();
        Map<String, Double> current = null;
        Set<String> seen = new HashSet<>();
        for (JsonObject event : events) {
            String name = string(event, "name");
            if (!"Node".equals(string(event, "cat")) || !name.endsWith(KERNEL_SUFFIX)) {
                continue;
            }
            String node = name.substring(0, name.length() - KERNEL_SUFFIX.length());
            // a node seen again means the next model run began
            if (current == null || seen.contains(node)) {
                current = new LinkedHashMap<>();
                seen = new HashSet<>();
                runs.add(current);
            }
            seen.add(node);
            JsonObject args = event.has("args") && event.get("args").isJsonObject() ? event.getAsJsonObject("args") : new JsonObject();
            current.merge(category(node, string(args, "op_name")), number(event, "dur"), Double::sum);
        }
        return runs;
    }

    /** First run = prefill, the rest = decode steps (mean per step); each category's share of its phase. */
    public static Map<String, Object> summarizePhases(List<Map<String, Double>> runs) {
        Map<String, Object> out = new LinkedHashMap<>();
        summarize(out, "prefill", runs.subList(0, Math.min(1, runs.size())));
        summarize(out, "decode", runs.size() > 1 ? runs.subList(1, runs.size()) : List.of());
        return out;
    }

    private static void summarize(Map<String, Object> out, String phase, List<Map<String, Double>> chosen) {
        if (chosen.isEmpty()) {
            return;
        }
        Map<String, Double> totals = new LinkedHashMap<>();
        for (Map<String, Double> run : chosen) {
            run.forEach((key, value) -> totals.merge(key, value / chosen.size(), Double::sum));
        }
        double whole = totals.values().stream().mapToDouble(Double::doubleValue).sum();
        Map<String, Object> categories = new LinkedHashMap<>();
        for (String category : CATEGORIES) {
            double us = totals.getOrDefault(category, 0.0);
            categories.put(category, Map.of("us", us, "share", whole > 0 ? us / whole : 0.0));
        }
        Map<String, Object> summary = new LinkedHashMap<>();
        summary.put("steps", chosen.size());
        summary.put("kernel_us", whole);
        summary.put("categories", categories);
        out.put(phase, summary);
    }

    private static String string(JsonObject object, String key) {
        JsonElement value = object.get(key);
        return value != null && value.isJsonPrimitive() ? value.getAsString() : "";
    }

    private static double number(JsonObject object, String key) {
        JsonElement value = object.get(key);
        return value != null && value.isJsonPrimitive() && value.getAsJsonPrimitive().isNumber() ? value.getAsDouble() : 0.0;
    }
}
