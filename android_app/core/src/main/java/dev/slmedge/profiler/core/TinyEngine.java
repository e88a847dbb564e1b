package dev.slmedge.profiler.core;

import com.google.gson.JsonObject;
import java.io.File;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * A small real transformer in plain Java, so the loop can run on a desktop JVM with real timings and
 * real memory: seeded weights, a KV cache, single-head causal attention and an MLP per layer, RMS
 * norms, and a tied LM head split across `threads` workers. Deterministic: same seed, same tokens.
 * It measures the loop and the trace, not any model.
 */
public final class TinyEngine implements Engine {
    static final int HIDDEN = 64;
    static final int LAYERS = 2;
    static final int MLP = 4 * HIDDEN;

    private final int vocabSize;
    private final int maxSeqLen;
    private final long seed;
    private float[] embedding; // [vocab, hidden], also the LM head (tied)
    private Layer[] layers;
    private ExecutorService workers;
    private int threads = 1;
    private int length;

    public TinyEngine(int vocabSize, int maxSeqLen, long seed) {
        this.vocabSize = vocabSize;
        this.maxSeqLen = maxSeqLen;
        this.seed = seed;
    }

    private static final class Layer {
        final float[] wq;
        final float[] wk;
        final float[] wv;
        final float[] wo;
        final float[] up;
        final float[] down;
        final float[] keys;
        final float[] values;

        Layer(Random random, int maxSeqLen) {
            wq = weights(random, HIDDEN * HIDDEN, HIDDEN);
            wk = weights(random, HIDDEN * HIDDEN, HIDDEN);
            wv = weights(random, HIDDEN * HIDDEN, HIDDEN);
            wo = weights(random, HIDDEN * HIDDEN, HIDDEN);
            up = weights(random, MLP * HIDDEN, HIDDEN);
            down = weights(random, HIDDEN * MLP, MLP);
            keys = new float[maxSeqLen * HIDDEN];
            values = new float[maxSeqLen * HIDDEN];
        }
    }

    private static float[] weights(Random random, int count, int fanIn) {
        float[] out = new float[count];
        double scale = 1.0 / Math.sqrt(fanIn);
        for (int i = 0; i < count; i++) {
            out[i] = (float) (random.nextGaussian() * scale);
        }
        return out;
    }

    @Override
    public void load(File artifactDir, JsonObject manifest, int threads) {
        Random random = new Random(seed);
        embedding = weights(random, vocabSize * HIDDEN, 1);
        layers = new Layer[LAYERS];
        for (int i = 0; i < LAYERS; i++) {
            layers[i] = new Layer(random, maxSeqLen);
        }
        this.threads = Math.max(1, threads);
        workers = this.threads > 1 ? Executors.newFixedThreadPool(this.threads) : null;
    }

    @Override
    public float[] step(int[] tokens, int startPos) throws Exception {
        if (startPos != 0 && startPos != length) {
            throw new IllegalStateException("step at position " + startPos + " does not continue the sequence at " + length);
        }
        if (startPos + tokens.length > maxSeqLen) {
            throw new IllegalArgumentException("sequence of " + (startPos + tokens.length) + " exceeds " + maxSeqLen);
        }
        float[] x = new float[HIDDEN];
        for (int i = 0; i < tokens.length; i++) {
            if (tokens[i] < 0 || tokens[i] >= vocabSize) {
                throw new IllegalArgumentException("token " + tokens[i] + " outside the vocabulary of " + vocabSize);
            }
            System.arraycopy(embedding, tokens[i] * HIDDEN, x, 0, HIDDEN);
            for (Layer layer : layers) {
                block(layer, x, startPos + i);
            }
        }
        length = startPos + tokens.length;
        return lmHead(rmsNorm(x));
    }

    /** One transformer block at one position: attention over the cache so far, then the MLP. */
    private static void block(Layer layer, float[] x, int position) {
        float[] h = rmsNorm(x);
        float[] q = matVec(layer.wq, h, HIDDEN, HIDDEN);
        System.arraycopy(matVec(layer.wk, h, HIDDEN, HIDDEN), 0, layer.keys, position * HIDDEN, HIDDEN);
        System.arraycopy(matVec(layer.wv, h, HIDDEN, HIDDEN), 0, layer.values, position * HIDDEN, HIDDEN);
        float[] scores = new float[position + 1];
        float max = Float.NEGATIVE_INFINITY;
        for (int p = 0; p <= position; p++) {
            float dot = 0;
            for (int d = 0; d < HIDDEN; d++) {
                dot += q[d] * layer.keys[p * HIDDEN + d];
            }
            scores[p] = dot / (float) Math.sqrt(HIDDEN);
            max = Math.max(max, scores[p]);
        }
        float sum = 0;
        for (int p = 0; p <= position; p++) {
            scores[p] = (float) Math.exp(scores[p] - max);
            sum += scores[p];
        }
        float[] attended = new float[HIDDEN];
        for (int p = 0; p <= position; p++) {
            float weight = scores[p] / sum;
            for (int d = 0; d < HIDDEN; d++) {
                attended[d] += weight * layer.values[p * HIDDEN + d];
            }
        }
        add(x, matVec(layer.wo, attended, HIDDEN, HIDDEN));
        float[] hidden = matVec(layer.up, rmsNorm(x), MLP, HIDDEN);
        for (int i = 0; i < MLP; i++) {
            hidden[i] = hidden[i] / (1 + (float) Math.exp(-hidden[i])); // SiLU
        }
        add(x, matVec(layer.down, hidden, HIDDEN, MLP));
    }

    /** Logits = embedding · h, rows split across the workers (the largest matmul, as in real models). */
    private float[] lmHead(float[] h) throws Exception {
        float[] logits = new float[vocabSize];
        if (workers == null) {
            logitRows(h, logits, 0, vocabSize);
            return logits;
        }
        int chunk = (vocabSize + threads - 1) / threads;
        List<Future<?>> parts = new ArrayList<>();
        for (int from = 0; from < vocabSize; from += chunk) {
            int start = from;
            int end = Math.min(vocabSize, from + chunk);
            parts.add(workers.submit(() -> logitRows(h, logits, start, end)));
        }
        for (Future<?> part : parts) {
            part.get();
        }
        return logits;
    }

    private void logitRows(float[] h, float[] logits, int from, int to) {
        for (int row = from; row < to; row++) {
            float dot = 0;
            int base = row * HIDDEN;
            for (int d = 0; d < HIDDEN; d++) {
                dot += embedding[base + d] * h[d];
            }
            logits[row] = dot;
        }
    }

    private static float[] matVec(float[] matrix, float[] vector, int rows, int cols) {
        float[] out = new float[rows];
        for (int r = 0; r < rows; r++) {
            float dot = 0;
            int base = r * cols;
            for (int c = 0; c < cols; c++) {
                dot += matrix[base + c] * vector[c];
            }
            out[r] = dot;
        }
        return out;
    }

    private static float[] rmsNorm(float[] x) {
        double squares = 0;
        for (float v : x) {
            squares += v * v;
        }
        float scale = (float) (1.0 / Math.sqrt(squares / x.length + 1e-6));
        float[] out = new float[x.length];
        for (int i = 0; i < x.length; i++) {
            out[i] = x[i] * scale;
        }
        return out;
    }

    private static void add(float[] into, float[] delta) {
        for (int i = 0; i < into.length; i++) {
            into[i] += delta[i];
        }
    }

    @Override
    public String describe() {
        return "TinyEngine (plain Java, " + LAYERS + " layers, hidden " + HIDDEN + ", " + threads + " threads)";
    }

    @Override
    public void close() {
        if (workers != null) {
            workers.shutdownNow();
        }
        embedding = null;
        layers = null;
    }
}
