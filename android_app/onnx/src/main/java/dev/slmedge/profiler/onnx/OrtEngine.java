package dev.slmedge.profiler.onnx;

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
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * An ONNX artifact on onnxruntime's Java API with our own KV-cache loop, driven by the manifest's
 * runtime.io as slm_edge/runtime/onnx_llm.py (OrtLlm) does it. Pure Java: the same class runs in the app
 * (onnxruntime-android) and on a desktop JVM (com.microsoft.onnxruntime:onnxruntime).
 *
 * <p>Two ways to carry the cache, chosen by the manifest's kv_cache.share_buffer:
 * <ul>
 *   <li>shared (GroupQueryAttention graphs): one max-length direct buffer per past tensor, made once
 *   per sequence, fed as past and pinned as the matching present output, so the graph writes the new
 *   positions in place and nothing is copied per step;</li>
 *   <li>fed back (other graphs): each call's present.N.* becomes the next call's past, starting from
 *   an empty past (sequence length 0).</li>
 * </ul>
 */
public final class OrtEngine implements OpProfilingEngine {
    private final String profilePrefix;
    private final String platform;
    private OrtEnvironment env;
    private OrtSession session;
    private final List<JsonObject> inputs = new ArrayList<>();
    private final Map<String, String> presentToPast = new LinkedHashMap<>();
    private String logitsName;
    private long[] emptyPastShape;
    private long[] sharedShape; // non-null: past and present share one buffer of this shape
    private Map<String, OnnxTensor> past = new HashMap<>();
    private Map<String, OnnxTensor> pinned = Collections.emptyMap(); // shared mode: present name -> its past tensor
    private final List<ByteBuffer> sharedBuffers = new ArrayList<>(); // shared mode: made once, zeroed per sequence
    private OrtSession.Result previous; // fed-back mode: owns the current past tensors
    private int length;
    private int threads;

    /**
     * profilePrefix: turn onnxruntime's profiler on (the config's "ops"), or null. platform: where this
     * runs, for describe() ("Android", "desktop JVM"), so a trace never hides which runtime wrote it.
     */
    public OrtEngine(String profilePrefix, String platform) {
        this.profilePrefix = profilePrefix;
        this.platform = platform;
    }

    /** The native onnxruntime library's own version (not the version the build asked for). */
    public static String runtimeVersion() {
        return OrtEnvironment.getEnvironment().getVersion();
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
        JsonObject kvCache = io.getAsJsonObject("kv_cache");
        emptyPastShape = longs(kvCache.getAsJsonArray("empty_past_shape"));
        JsonElement share = kvCache.get("share_buffer");
        if (share != null && share.isJsonObject()) {
            sharedShape = longs(share.getAsJsonObject().getAsJsonArray("shape"));
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

    private static long[] longs(JsonArray array) {
        long[] out = new long[array.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = array.get(i).getAsLong();
        }
        return out;
    }

    private String pastFor(String role, JsonElement layer) {
        for (JsonObject input : inputs) {
            if (role.equals(input.get("role").getAsString()) && String.valueOf(input.get("layer")).equals(String.valueOf(layer))) {
                return input.get("name").getAsString();
            }
        }
        throw new IllegalStateException("the manifest has no " + role + " input for layer " + layer);
    }

    /** True when past and present share one max-length buffer (the manifest's kv_cache.share_buffer). */
    public boolean sharesBuffer() {
        return sharedShape != null;
    }

    @Override
    public float[] step(int[] tokens, int startPos) throws OrtException {
        if (startPos == 0) {
            startSequence();
        } else if (startPos != length) {
            throw new IllegalStateException("step at position " + startPos + " does not continue the sequence at " + length);
        }
        if (sharedShape != null && startPos + tokens.length > sharedShape[2]) {
            throw new IllegalStateException("sequence of " + (startPos + tokens.length) + " exceeds the shared cache of "
                    + sharedShape[2] + " positions");
        }
        List<OnnxTensor> created = new ArrayList<>();
        Map<String, OnnxTensor> feeds = new LinkedHashMap<>();
        try {
            for (JsonObject input : inputs) {
                String name = input.get("name").getAsString();
                String role = input.get("role").getAsString();
                String dtype = input.get("dtype").getAsString();
                OnnxTensor tensor;
                switch (role) {
                    case "input_ids":
                        tensor = integers(dtype, tokens.length, i -> tokens[i]);
                        break;
                    case "attention_mask": // past + new: in shared mode it tells the graph how much is valid
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
            float[] logits;
            if (sharedShape != null) {
                // run(inputs, requestedOutputs, pinnedOutputs): onnxruntime writes each present into
                // the tensor we pass, the same one fed as its past. In the Java API since onnxruntime
                // 1.17.0 (microsoft/onnxruntime PR #16835; absent from the 1.16.3 sources jar, present
                // in 1.17.0's). Pinned outputs stay ours: closing the result leaves them open.
                // Collections.singleton, not Set.of: Set.of needs API 30 and the app's minSdk is 29.
                try (OrtSession.Result result = session.run(feeds, Collections.singleton(logitsName), pinned)) {
                    logits = lastRow((OnnxTensor) result.get(logitsName).get());
                }
            } else {
                OrtSession.Result result = session.run(feeds);
                Map<String, OnnxTensor> next = new HashMap<>();
                try {
                    presentToPast.forEach((present, pastName) -> next.put(pastName, (OnnxTensor) result.get(present).get()));
                    logits = lastRow((OnnxTensor) result.get(logitsName).get());
                } catch (RuntimeException e) {
                    result.close(); // an output missing: its native tensors would otherwise leak
                    throw e;
                }
                releasePast();
                past = next;
                previous = result;
            }
            length = startPos + tokens.length;
            return logits;
        } finally {
            for (OnnxTensor tensor : created) {
                tensor.close();
            }
        }
    }

    /**
     * A new sequence. Shared: zeroed max-length past tensors, each pinned as its present too.
     * Fed back: empty past tensors (sequence length 0) for every layer.
     */
    private void startSequence() throws OrtException {
        if (sharedShape != null && !sharedBuffers.isEmpty()) {
            // the same max-length tensors for every sequence, zeroed: no new cache per prompt (on
            // Android a direct buffer lives in the Java heap, so a fresh one per repeat would be garbage)
            for (ByteBuffer buffer : sharedBuffers) {
                zero(buffer);
            }
            length = 0;
            return;
        }
        releasePast();
        past = new HashMap<>();
        long[] shape = sharedShape != null ? sharedShape : emptyPastShape;
        for (JsonObject input : inputs) {
            String role = input.get("role").getAsString();
            if (role.equals("past_key") || role.equals("past_value")) {
                String dtype = input.get("dtype").getAsString();
                boolean half = "float16".equals(dtype);
                long elements = 1;
                for (long dim : shape) {
                    elements *= dim;
                }
                // allocateDirect zero-fills; a direct buffer is used in place by onnxruntime (no copy)
                ByteBuffer buffer = ByteBuffer.allocateDirect(Math.toIntExact(elements * (half ? 2 : 4)))
                        .order(ByteOrder.nativeOrder());
                if (sharedShape != null) {
                    sharedBuffers.add(buffer);
                }
                past.put(input.get("name").getAsString(),
                        OnnxTensor.createTensor(env, buffer, shape, half ? OnnxJavaType.FLOAT16 : OnnxJavaType.FLOAT));
            }
        }
        if (sharedShape != null) {
            Map<String, OnnxTensor> outputs = new LinkedHashMap<>();
            presentToPast.forEach((present, pastName) -> outputs.put(present, past.get(pastName)));
            pinned = outputs;
        }
        length = 0;
    }

    private static final byte[] ZEROS = new byte[1 << 16];

    private static void zero(ByteBuffer buffer) {
        ByteBuffer view = buffer.duplicate();
        view.clear();
        while (view.hasRemaining()) {
            view.put(ZEROS, 0, Math.min(ZEROS.length, view.remaining()));
        }
    }

    /** Close the past we fed: the previous result's outputs, or the tensors we made. */
    private void releasePast() {
        if (previous != null) {
            previous.close();
            previous = null;
        } else {
            past.values().forEach(OnnxTensor::close);
        }
        pinned = Collections.emptyMap();
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
        return "onnxruntime " + (env != null ? env.getVersion() : runtimeVersion()) + " (" + platform
                + ", CPU EP, intra-op threads " + threads + ", "
                + (sharesBuffer() ? "past/present share one max-length buffer" : "present fed back as past") + ")";
    }

    @Override
    public void close() {
        releasePast();
        past = new HashMap<>();
        sharedBuffers.clear();
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
