package dev.slmedge.profiler;

import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import dev.slmedge.profiler.core.OpProfilingEngine;
import java.io.File;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.IntBuffer;
import java.nio.LongBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * An ONNX artifact on onnxruntime-android with our own KV-cache loop, driven by the manifest's
 * runtime.io (as slm_edge/runtime_ort.py): each call's present.N.* becomes the next call's
 * past_key_values.N.*, starting from an empty past (sequence length 0). The Java API has no
 * IOBinding, so past and present cannot share one buffer as they do on Linux.
 */
final class OrtEngine implements OpProfilingEngine {
    private final String profilePrefix;
    private OrtEnvironment env;
    private OrtSession session;
    private final List<JsonObject> inputs = new ArrayList<>();
    private final Map<String, String> presentToPast = new HashMap<>();
    private String logitsName;
    private long[] emptyPastShape;
    private Map<String, OnnxTensor> past = new HashMap<>();
    private OrtSession.Result previous; // owns the current past tensors: closed after the next run
    private int length;
    private int threads;

    /** profilePrefix: turn onnxruntime's profiler on (the config's "ops"), or null. */
    OrtEngine(String profilePrefix) {
        this.profilePrefix = profilePrefix;
    }

    @Override
    public void load(File artifactDir, JsonObject manifest, int threads) throws Exception {
        this.threads = threads;
        JsonObject io = manifest.getAsJsonObject("runtime").getAsJsonObject("io");
        for (JsonElement entry : io.getAsJsonArray("inputs")) {
            inputs.add(entry.getAsJsonObject());
        }
        for (JsonElement element : io.getAsJsonArray("outputs")) {
            JsonObject output = element.getAsJsonObject();
            String role = output.get("role").getAsString();
            if ("logits".equals(role)) {
                logitsName = output.get("name").getAsString();
            } else if (role.startsWith("present")) {
                presentToPast.put(output.get("name").getAsString(), pastFor(role.replace("present", "past"), output.get("layer")));
            }
        }
        if (logitsName == null) {
            throw new IllegalStateException("the manifest's runtime.io names no logits output");
        }
        JsonArray shape = io.getAsJsonObject("kv_cache").getAsJsonArray("empty_past_shape");
        emptyPastShape = new long[shape.size()];
        for (int i = 0; i < shape.size(); i++) {
            emptyPastShape[i] = shape.get(i).getAsLong();
        }
        env = OrtEnvironment.getEnvironment();
        OrtSession.SessionOptions options = new OrtSession.SessionOptions();
        options.setIntraOpNumThreads(threads); // 0 = onnxruntime's default, as on Linux
        options.setInterOpNumThreads(1);
        if (profilePrefix != null) {
            options.enableProfiling(profilePrefix);
        }
        session = env.createSession(new File(artifactDir, manifest.get("model_file").getAsString()).getAbsolutePath(), options);
    }

    private String pastFor(String role, JsonElement layer) {
        for (JsonObject input : inputs) {
            if (role.equals(input.get("role").getAsString()) && String.valueOf(input.get("layer")).equals(String.valueOf(layer))) {
                return input.get("name").getAsString();
            }
        }
        throw new IllegalStateException("the manifest has no " + role + " input for layer " + layer);
    }

    @Override
    public float[] step(int[] tokens, int startPos) throws OrtException {
        if (startPos == 0) {
            startSequence();
        } else if (startPos != length) {
            throw new IllegalStateException("step at position " + startPos + " does not continue the sequence at " + length);
        }
        List<OnnxTensor> created = new ArrayList<>();
        Map<String, OnnxTensor> feeds = new LinkedHashMap<>();
        for (JsonObject input : inputs) {
            String name = input.get("name").getAsString();
            String role = input.get("role").getAsString();
            String dtype = input.get("dtype").getAsString();
            OnnxTensor tensor;
            switch (role) {
                case "input_ids":
                    tensor = integers(dtype, tokens.length, i -> tokens[i]);
                    break;
                case "attention_mask":
                    tensor = integers(dtype, startPos + tokens.length, i -> 1);
                    break;
                case "position_ids":
                    tensor = integers(dtype, tokens.length, i -> startPos + i);
                    break;
                case "past_key":
                case "past_value":
                    feeds.put(name, past.get(name));
                    continue;
                default:
                    throw new IllegalStateException("input " + name + " has role " + role + ", which this app cannot feed");
            }
            created.add(tensor);
            feeds.put(name, tensor);
        }
        OrtSession.Result result = session.run(feeds);
        for (OnnxTensor tensor : created) {
            tensor.close();
        }
        Map<String, OnnxTensor> next = new HashMap<>();
        presentToPast.forEach((present, pastName) -> next.put(pastName, (OnnxTensor) result.get(present).get()));
        releasePast();
        past = next;
        previous = result;
        length = startPos + tokens.length;
        return lastRow((OnnxTensor) result.get(logitsName).get());
    }

    /** A new sequence: empty past tensors (sequence length 0) for every layer. */
    private void startSequence() throws OrtException {
        releasePast();
        past = new HashMap<>();
        for (JsonObject input : inputs) {
            String role = input.get("role").getAsString();
            if (role.equals("past_key") || role.equals("past_value")) {
                String dtype = input.get("dtype").getAsString();
                OnnxJavaType type = "float16".equals(dtype) ? OnnxJavaType.FLOAT16 : OnnxJavaType.FLOAT;
                ByteBuffer none = ByteBuffer.allocateDirect(0).order(ByteOrder.nativeOrder());
                past.put(input.get("name").getAsString(), OnnxTensor.createTensor(env, none, emptyPastShape, type));
            }
        }
        length = 0;
    }

    /** Close the past we fed: the previous result's outputs, or the empty tensors we made. */
    private void releasePast() {
        if (previous != null) {
            previous.close();
            previous = null;
        } else {
            past.values().forEach(OnnxTensor::close);
        }
    }

    private interface IndexValue {
        long at(int index);
    }

    private OnnxTensor integers(String dtype, int count, IndexValue value) throws OrtException {
        long[] shape = {1, count};
        if ("int32".equals(dtype)) {
            IntBuffer buffer = ByteBuffer.allocateDirect(count * 4).order(ByteOrder.nativeOrder()).asIntBuffer();
            for (int i = 0; i < count; i++) {
                buffer.put(i, (int) value.at(i));
            }
            return OnnxTensor.createTensor(env, buffer, shape);
        }
        LongBuffer buffer = ByteBuffer.allocateDirect(count * 8).order(ByteOrder.nativeOrder()).asLongBuffer();
        for (int i = 0; i < count; i++) {
            buffer.put(i, value.at(i));
        }
        return OnnxTensor.createTensor(env, buffer, shape);
    }

    /** Logits [1, n, vocab] → the last position's row (float16 logits come back widened to float). */
    private static float[] lastRow(OnnxTensor logits) {
        long[] shape = logits.getInfo().getShape();
        int vocab = (int) shape[shape.length - 1];
        FloatBuffer all = logits.getFloatBuffer();
        float[] row = new float[vocab];
        all.position(all.limit() - vocab);
        all.get(row);
        return row;
    }

    @Override
    public String endProfiling() throws OrtException {
        return session.endProfiling();
    }

    @Override
    public String describe() {
        return "onnxruntime-android " + BuildConfig.ONNXRUNTIME_VERSION + " (CPU EP, intra-op threads " + threads
                + ", present fed back as past)";
    }

    @Override
    public void close() {
        releasePast();
        past = new HashMap<>();
        if (session != null) {
            try {
                session.close();
            } catch (OrtException ignored) {
                // closing frees native memory; nothing to recover if it fails
            }
            session = null;
        }
    }
}
