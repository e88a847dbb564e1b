package dev.slmedge.profiler.core;

import com.google.gson.JsonObject;
import java.io.File;

/** A test engine passing every call to a TinyEngine (vocabulary 96); a test overrides the call it watches. */
class ForwardingEngine implements Engine {
    protected final TinyEngine tiny;

    ForwardingEngine(int maxSeqLen) {
        tiny = new TinyEngine(96, maxSeqLen, 0);
    }

    @Override
    public void load(File artifactDir, JsonObject manifest, int threads) throws Exception {
        tiny.load(artifactDir, manifest, threads);
    }

    @Override
    public float[] step(int[] tokens, int startPos) throws Exception {
        return tiny.step(tokens, startPos);
    }

    @Override
    public String describe() {
        return tiny.describe();
    }

    @Override
    public void close() {
        tiny.close();
    }
}
