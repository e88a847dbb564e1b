package dev.slmedge.profiler.core;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.util.ArrayList;
import java.util.List;

/**
 * How many tokens one forward of an ExecuTorch program may take, and a prompt cut into such pieces, as
 * slm_edge/runtime/executorch_llm.py (EtLlm._chunks) and executorch's own C++ runner feed a long prompt:
 * by executorch's convention the program's get_max_seq_len is the most tokens one forward takes and
 * get_max_context_len the positions its cache holds. A program with ring (sliding-window) caches has a
 * get_max_seq_len below its context; older programs have one number for both, so nothing is cut.
 * Pure Java, so the desktop tests check it (ExecuTorchEngine itself needs the executorch-android AAR).
 */
public final class ForwardChunks {
    private ForwardChunks() {}

    /**
     * Positions [start, end) as consecutive [from, to) pieces of at most `chunk` positions each, in order;
     * chunk of 0 or less (unknown), or at least the length: one piece. Empty for an empty range.
     */
    public static List<int[]> split(int start, int end, int chunk) {
        if (end < start) {
            throw new IllegalArgumentException("range [" + start + ", " + end + ") ends before it starts");
        }
        int length = end - start;
        int size = chunk > 0 && chunk < length ? chunk : length;
        List<int[]> pieces = new ArrayList<>();
        for (int from = start; from < end; from += size) {
            pieces.add(new int[] {from, Math.min(from + size, end)});
        }
        return pieces;
    }

    /**
     * The most tokens one forward takes, as the manifest records it: runtime.metadata.get_max_seq_len (the
     * program's constant method, copied at export), else runtime.kv_cache.max_chunk (a ring program's
     * limit); null when the manifest says neither (ask the program).
     */
    public static Integer fromManifest(JsonObject manifest) {
        JsonObject runtime = object(manifest, "runtime");
        Integer fromMetadata = positive(object(runtime, "metadata"), "get_max_seq_len");
        return fromMetadata != null ? fromMetadata : positive(object(runtime, "kv_cache"), "max_chunk");
    }

    private static JsonObject object(JsonObject parent, String key) {
        JsonElement value = parent == null ? null : parent.get(key);
        return value != null && value.isJsonObject() ? value.getAsJsonObject() : null;
    }

    private static Integer positive(JsonObject parent, String key) {
        JsonElement value = parent == null ? null : parent.get(key);
        if (value == null || !value.isJsonPrimitive() || !value.getAsJsonPrimitive().isNumber()) {
            return null;
        }
        int number = value.getAsInt();
        return number > 0 ? number : null;
    }
}
