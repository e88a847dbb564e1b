package dev.slmedge.profiler.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertThrows;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.util.ArrayList;
import java.util.List;
import org.junit.Test;

public class ForwardChunksTest {
    private static List<List<Integer>> pieces(int start, int end, int chunk) {
        List<List<Integer>> out = new ArrayList<>();
        for (int[] piece : ForwardChunks.split(start, end, chunk)) {
            out.add(List.of(piece[0], piece[1]));
        }
        return out;
    }

    @Test
    public void aLongPromptIsFedInConsecutiveChunksAsTheRunnersFeedIt() {
        // slm_edge/runtime/executorch_llm.py EtLlm._chunks: 10 tokens at 0, chunk 4 → [0,4) [4,8) [8,10)
        assertEquals(List.of(List.of(0, 4), List.of(4, 8), List.of(8, 10)), pieces(0, 10, 4));
        assertEquals(List.of(List.of(7, 11), List.of(11, 15)), pieces(7, 15, 4)); // positions go on from start
        assertEquals(List.of(List.of(0, 4), List.of(4, 8)), pieces(0, 8, 4)); // a multiple: no empty tail
    }

    @Test
    public void whatFitsIsOneForward() {
        assertEquals(List.of(List.of(0, 4)), pieces(0, 4, 4));
        assertEquals(List.of(List.of(5, 6)), pieces(5, 6, 32)); // a decode step
        assertEquals(List.of(List.of(0, 100)), pieces(0, 100, 0)); // chunk unknown: the whole list
        assertEquals(List.of(List.of(0, 100)), pieces(0, 100, -1));
        assertEquals(List.of(), pieces(3, 3, 4));
        assertThrows(IllegalArgumentException.class, () -> ForwardChunks.split(4, 3, 2));
    }

    private static JsonObject manifest(String runtime) {
        return JsonParser.parseString("{\"model_file\": \"model.pte\", \"runtime\": " + runtime + "}").getAsJsonObject();
    }

    @Test
    public void theChunkComesFromTheManifestsMetadata() {
        // a ring program: one forward takes 32 tokens, the cache holds 512 positions
        assertEquals(Integer.valueOf(32), ForwardChunks.fromManifest(manifest("{\"engine\": \"executorch\", "
                + "\"metadata\": {\"get_max_seq_len\": 32, \"get_max_context_len\": 512}, "
                + "\"kv_cache\": {\"sliding_window_slots\": 64, \"max_chunk\": 32}}")));
        // an older manifest: get_max_seq_len only, equal to the context
        assertEquals(Integer.valueOf(512), ForwardChunks.fromManifest(manifest("{\"metadata\": {\"get_max_seq_len\": 512}}")));
        assertEquals(Integer.valueOf(16), ForwardChunks.fromManifest(manifest("{\"kv_cache\": {\"max_chunk\": 16}}")));
        assertNull(ForwardChunks.fromManifest(manifest("{\"metadata\": {\"use_kv_cache\": true}}"))); // ask the program
        assertNull(ForwardChunks.fromManifest(manifest("{\"metadata\": {\"get_max_seq_len\": 0}}")));
        assertNull(ForwardChunks.fromManifest(JsonParser.parseString("{\"model_file\": \"m.pte\"}").getAsJsonObject()));
    }
}
