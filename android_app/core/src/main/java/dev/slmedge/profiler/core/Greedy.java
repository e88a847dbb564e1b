package dev.slmedge.profiler.core;

/** Greedy sampling: the index of the largest logit (the first one on ties, like torch.argmax). */
public final class Greedy {
    private Greedy() {}

    public static int argmax(float[] logits) {
        if (logits == null || logits.length == 0) {
            throw new IllegalArgumentException("the engine returned no logits");
        }
        int best = 0;
        for (int i = 1; i < logits.length; i++) {
            if (logits[i] > logits[best]) {
                best = i;
            }
        }
        return best;
    }
}
