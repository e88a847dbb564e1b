package dev.slmedge.profiler.onnx;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;

/**
 * A small ONNX language model written by hand (no onnx package on the JVM), enough for OrtEngine:
 * input_ids [1, n] (int64) → Gather from an embedding [vocab, hidden] → `layers` × (MatMul [hidden,
 * hidden], Tanh) → MatMul [hidden, vocab] → logits [1, n, vocab]. No KV cache (the manifest lists no
 * past inputs), so every step recomputes its own tokens only: it gives the runtime work, not text.
 *
 * <p>The protobuf is encoded here field by field from onnx/onnx.proto (ModelProto ir_version 1, graph 7,
 * opset_import 8; GraphProto node 1, name 2, initializer 5, input 11, output 12; NodeProto input 1,
 * output 2, name 3, op_type 4; TensorProto dims 1, data_type 2, name 8, raw_data 9 (little-endian);
 * ValueInfoProto name 1, type 2; TypeProto tensor_type 1; TypeProto.Tensor elem_type 1, shape 2;
 * TensorShapeProto dim 1; Dimension dim_value 1, dim_param 2; OperatorSetIdProto version 2).
 */
final class TinyOnnxModel {
    static final int FLOAT = 1; // TensorProto.DataType
    static final int INT64 = 7;

    private TinyOnnxModel() {}

    /** Writes model.onnx and manifest.json (runtime.io as OrtEngine reads it) into dir; returns the manifest. */
    static JsonObject write(File dir, int vocab, int hidden, int layers) throws IOException {
        Proto graph = new Proto().string(2, "tiny");
        graph.message(5, tensor("embed", new long[] {vocab, hidden}, 1));
        graph.message(1, node("Gather", "gather", new String[] {"embed", "input_ids"}, "h0"));
        String last = "h0";
        for (int layer = 0; layer < layers; layer++) {
            String weight = "w" + layer;
            graph.message(5, tensor(weight, new long[] {hidden, hidden}, 2 + layer));
            graph.message(1, node("MatMul", "matmul" + layer, new String[] {last, weight}, "m" + layer));
            graph.message(1, node("Tanh", "tanh" + layer, new String[] {"m" + layer}, "h" + (layer + 1)));
            last = "h" + (layer + 1);
        }
        graph.message(5, tensor("head", new long[] {hidden, vocab}, 99));
        graph.message(1, node("MatMul", "lm_head", new String[] {last, "head"}, "logits"));
        graph.message(11, valueInfo("input_ids", INT64, new Object[] {1L, "sequence"}));
        graph.message(12, valueInfo("logits", FLOAT, new Object[] {1L, "sequence", (long) vocab}));
        Proto model = new Proto().varint(1, 8).string(2, "slm-edge test");
        model.message(8, new Proto().varint(2, 17)); // the default domain, opset 17
        model.message(7, graph);
        dir.mkdirs();
        Files.write(new File(dir, "model.onnx").toPath(), model.bytes());
        String manifest = "{\"schema\": \"slm-edge/manifest\", \"model_file\": \"model.onnx\", \"runtime\": {\"io\": {"
                + "\"inputs\": [{\"name\": \"input_ids\", \"role\": \"input_ids\", \"dtype\": \"int64\"}],"
                + "\"outputs\": [{\"name\": \"logits\", \"role\": \"logits\"}],"
                + "\"kv_cache\": {\"empty_past_shape\": [1, 1, 0, 8]}}}}";
        Files.writeString(new File(dir, "manifest.json").toPath(), manifest);
        return JsonParser.parseString(manifest).getAsJsonObject();
    }

    private static Proto node(String op, String name, String[] inputs, String output) {
        Proto node = new Proto();
        for (String input : inputs) {
            node.string(1, input);
        }
        return node.string(2, output).string(3, name).string(4, op);
    }

    /** A float initializer of small deterministic values (xorshift), so nothing is constant-folded away. */
    private static Proto tensor(String name, long[] dims, long seed) {
        Proto tensor = new Proto();
        long count = 1;
        for (long dim : dims) {
            tensor.varint(1, dim);
            count *= dim;
        }
        ByteBuffer data = ByteBuffer.allocate(Math.toIntExact(count * 4)).order(ByteOrder.LITTLE_ENDIAN);
        long state = seed * 0x9E3779B97F4A7C15L + 1;
        for (long i = 0; i < count; i++) {
            state ^= state << 13;
            state ^= state >>> 7;
            state ^= state << 17;
            data.putFloat(((state >>> 40) / (float) (1 << 24) - 0.5f) * 0.2f);
        }
        return tensor.varint(2, FLOAT).string(8, name).bytes(9, data.array());
    }

    /** dims: a Long is a fixed size, a String a symbolic one. */
    private static Proto valueInfo(String name, int elemType, Object[] dims) {
        Proto shape = new Proto();
        for (Object dim : dims) {
            shape.message(1, dim instanceof Long size ? new Proto().varint(1, size) : new Proto().string(2, (String) dim));
        }
        Proto tensorType = new Proto().varint(1, elemType).message(2, shape);
        return new Proto().string(1, name).message(2, new Proto().message(1, tensorType));
    }

    /** Protocol buffers' wire format: varints (type 0) and length-delimited fields (type 2) are all ONNX needs here. */
    static final class Proto {
        private final ByteArrayOutputStream out = new ByteArrayOutputStream();

        Proto varint(int field, long value) {
            rawVarint((long) field << 3);
            rawVarint(value);
            return this;
        }

        Proto bytes(int field, byte[] value) {
            rawVarint(((long) field << 3) | 2);
            rawVarint(value.length);
            out.writeBytes(value);
            return this;
        }

        Proto string(int field, String value) {
            return bytes(field, value.getBytes(StandardCharsets.UTF_8));
        }

        Proto message(int field, Proto value) {
            return bytes(field, value.bytes());
        }

        byte[] bytes() {
            return out.toByteArray();
        }

        private void rawVarint(long value) {
            while ((value & ~0x7FL) != 0) {
                out.write((int) ((value & 0x7F) | 0x80));
                value >>>= 7;
            }
            out.write((int) value);
        }
    }
}
