package dev.slmedge.profiler.core;

import com.google.gson.JsonObject;
import java.io.File;

/**
 * One loaded model that runs a sequence a step at a time. The loop times load and step apart, so
 * an implementation does its one-off work in load and nothing else.
 */
public interface Engine extends AutoCloseable {
    /** Load the artifact (manifest = its manifest.json) with this many runtime threads. */
    void load(File artifactDir, JsonObject manifest, int threads) throws Exception;

    /**
     * Feed tokens at positions startPos.. and return the logits of the last one (float32, vocab
     * long). startPos 0 starts a new sequence; otherwise it continues the previous step's.
     */
    float[] step(int[] tokens, int startPos) throws Exception;

    /** Runtime name and version for the trace's software block. */
    String describe();

    @Override
    void close();
}
