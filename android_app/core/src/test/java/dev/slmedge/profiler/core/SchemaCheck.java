package dev.slmedge.profiler.core;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.google.gson.JsonPrimitive;
import java.io.File;
import java.io.IOException;
import java.math.BigDecimal;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * The host's JSON Schemas (slm_edge/records/schemas), checked from Java so the core's tests can tell
 * whether what the app writes (the trace) and reads (the run config) is what the host means. Only the
 * keywords those two schemas use are implemented; an unknown keyword fails loudly rather than passing.
 * The schemas live in the repository, not in the app: where they cannot be found (the app built on its
 * own), schema() returns null and the tests that need it are skipped.
 */
final class SchemaCheck {
    private static final Set<String> IGNORED = Set.of("$schema", "$id", "title", "description", "default");

    private SchemaCheck() {}

    /** slm_edge/records/schemas/NAME.schema.json from the working folder or any folder above it; null if none. */
    static JsonObject schema(String name) throws IOException {
        String relative = "slm_edge/records/schemas/" + name + ".schema.json";
        for (File dir = new File(System.getProperty("user.dir")).getAbsoluteFile(); dir != null; dir = dir.getParentFile()) {
            File file = new File(dir, relative);
            if (file.isFile()) {
                return JsonParser.parseString(Files.readString(file.toPath())).getAsJsonObject();
            }
        }
        return null;
    }

    /** Every violation, each as "path: what"; empty when the value is valid. */
    static List<String> errors(JsonObject schema, JsonElement value) {
        List<String> out = new ArrayList<>();
        check(schema, value, "$", out);
        return out;
    }

    private static void check(JsonObject schema, JsonElement value, String path, List<String> out) {
        for (Map.Entry<String, JsonElement> entry : schema.entrySet()) {
            String keyword = entry.getKey();
            JsonElement arg = entry.getValue();
            switch (keyword) {
                case "type" -> {
                    boolean any = false;
                    for (JsonElement type : arg.isJsonArray() ? arg.getAsJsonArray() : single(arg)) {
                        any |= hasType(value, type.getAsString());
                    }
                    if (!any) {
                        out.add(path + ": " + value + " is not of type " + arg);
                    }
                }
                case "const" -> {
                    if (!arg.equals(value)) {
                        out.add(path + ": " + value + " is not " + arg);
                    }
                }
                case "enum" -> {
                    if (!arg.getAsJsonArray().contains(value)) {
                        out.add(path + ": " + value + " is not one of " + arg);
                    }
                }
                case "required" -> {
                    if (value.isJsonObject()) {
                        for (JsonElement key : arg.getAsJsonArray()) {
                            if (!value.getAsJsonObject().has(key.getAsString())) {
                                out.add(path + ": missing " + key.getAsString());
                            }
                        }
                    }
                }
                case "properties" -> {
                    if (value.isJsonObject()) {
                        for (Map.Entry<String, JsonElement> property : arg.getAsJsonObject().entrySet()) {
                            JsonElement child = value.getAsJsonObject().get(property.getKey());
                            if (child != null) {
                                check(property.getValue().getAsJsonObject(), child, path + "." + property.getKey(), out);
                            }
                        }
                    }
                }
                case "additionalProperties" -> {
                    if (value.isJsonObject()) {
                        Set<String> declared = schema.has("properties")
                                ? schema.getAsJsonObject("properties").keySet() : Set.of();
                        for (Map.Entry<String, JsonElement> member : value.getAsJsonObject().entrySet()) {
                            if (declared.contains(member.getKey())) {
                                continue;
                            }
                            if (arg.isJsonPrimitive() && !arg.getAsBoolean()) {
                                out.add(path + ": unexpected " + member.getKey());
                            } else if (arg.isJsonObject()) {
                                check(arg.getAsJsonObject(), member.getValue(), path + "." + member.getKey(), out);
                            }
                        }
                    }
                }
                case "items" -> {
                    if (value.isJsonArray()) {
                        JsonArray array = value.getAsJsonArray();
                        for (int i = 0; i < array.size(); i++) {
                            check(arg.getAsJsonObject(), array.get(i), path + "[" + i + "]", out);
                        }
                    }
                }
                case "minItems", "maxItems", "uniqueItems" -> {
                    if (value.isJsonArray()) {
                        JsonArray array = value.getAsJsonArray();
                        if (keyword.equals("minItems") && array.size() < arg.getAsInt()
                                || keyword.equals("maxItems") && array.size() > arg.getAsInt()) {
                            out.add(path + ": " + array.size() + " items breaks " + keyword + " " + arg);
                        }
                        if (keyword.equals("uniqueItems") && arg.getAsBoolean()
                                && new HashSet<>(array.asList()).size() != array.size()) {
                            out.add(path + ": items are not unique");
                        }
                    }
                }
                case "minimum", "maximum", "exclusiveMinimum" -> {
                    if (value.isJsonPrimitive() && value.getAsJsonPrimitive().isNumber()) {
                        double x = value.getAsDouble();
                        double bound = arg.getAsDouble();
                        boolean ok = switch (keyword) {
                            case "minimum" -> x >= bound;
                            case "maximum" -> x <= bound;
                            default -> x > bound;
                        };
                        if (!ok) {
                            out.add(path + ": " + value + " breaks " + keyword + " " + arg);
                        }
                    }
                }
                case "minLength", "pattern" -> {
                    if (value.isJsonPrimitive() && value.getAsJsonPrimitive().isString()) {
                        String text = value.getAsString();
                        if (keyword.equals("minLength") ? text.codePointCount(0, text.length()) < arg.getAsInt()
                                : !Pattern.compile(arg.getAsString()).matcher(text).find()) {
                            out.add(path + ": " + value + " breaks " + keyword + " " + arg);
                        }
                    }
                }
                case "not" -> {
                    if (errors(arg.getAsJsonObject(), value).isEmpty()) {
                        out.add(path + ": " + value + " matches what it must not: " + arg);
                    }
                }
                case "anyOf" -> {
                    boolean any = false;
                    for (JsonElement option : arg.getAsJsonArray()) {
                        any |= errors(option.getAsJsonObject(), value).isEmpty();
                    }
                    if (!any) {
                        out.add(path + ": matches none of " + arg);
                    }
                }
                case "if" -> {
                    String branch = errors(arg.getAsJsonObject(), value).isEmpty() ? "then" : "else";
                    if (schema.has(branch)) {
                        check(schema.getAsJsonObject(branch), value, path, out);
                    }
                }
                case "then", "else" -> { } // applied by "if"
                default -> {
                    if (!IGNORED.contains(keyword)) {
                        throw new IllegalArgumentException("SchemaCheck does not know keyword " + keyword);
                    }
                }
            }
        }
    }

    private static JsonArray single(JsonElement type) {
        JsonArray array = new JsonArray();
        array.add(type);
        return array;
    }

    private static boolean hasType(JsonElement value, String type) {
        JsonPrimitive primitive = value.isJsonPrimitive() ? value.getAsJsonPrimitive() : null;
        return switch (type) {
            case "object" -> value.isJsonObject();
            case "array" -> value.isJsonArray();
            case "null" -> value.isJsonNull();
            case "string" -> primitive != null && primitive.isString();
            case "boolean" -> primitive != null && primitive.isBoolean();
            case "number" -> primitive != null && primitive.isNumber();
            // JSON Schema counts 2.0 as an integer: a number with no fractional part
            case "integer" -> primitive != null && primitive.isNumber()
                    && new BigDecimal(primitive.getAsString()).stripTrailingZeros().scale() <= 0;
            default -> throw new IllegalArgumentException("SchemaCheck does not know type " + type);
        };
    }
}
