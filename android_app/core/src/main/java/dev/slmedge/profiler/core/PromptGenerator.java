package dev.slmedge.profiler.core;

import java.math.BigInteger;

/**
 * The same fixed pseudo-random prompts as the Linux runner's prompt_for(): Python's
 * random.Random(seed * 1_000_003 + length).randrange(3, vocab) reproduced bit for bit (MT19937
 * seeded by init_by_array, randrange by rejection on getrandbits). Latency depends on how many
 * tokens, not which, but identical prompts make traces from phone and Linux comparable step by step.
 */
public final class PromptGenerator {
    private static final int FIRST_TOKEN = 3; // below: the special tokens (pad, bos, eos) of most vocabularies

    private PromptGenerator() {}

    public static int[] prompt(int length, int vocabSize, long seed) {
        if (vocabSize <= FIRST_TOKEN) {
            throw new IllegalArgumentException("vocabulary of " + vocabSize + " tokens is too small for prompts");
        }
        BigInteger pythonSeed = BigInteger.valueOf(seed).multiply(BigInteger.valueOf(1_000_003L))
                .add(BigInteger.valueOf(length));
        MersenneTwister random = new MersenneTwister(pythonSeed);
        int[] tokens = new int[length];
        for (int i = 0; i < length; i++) {
            tokens[i] = FIRST_TOKEN + random.below(vocabSize - FIRST_TOKEN);
        }
        return tokens;
    }

    /** CPython's _random.Random: MT19937 with its integer seeding. */
    static final class MersenneTwister {
        private static final int N = 624;
        private static final int M = 397;
        private final int[] state = new int[N];
        private int index = N + 1;

        MersenneTwister(BigInteger seed) {
            // CPython seeds with abs(n) split into 32-bit words, least significant first.
            BigInteger value = seed.abs();
            int words = Math.max(1, (value.bitLength() + 31) / 32);
            int[] key = new int[words];
            for (int i = 0; i < words; i++) {
                key[i] = value.shiftRight(32 * i).intValue();
            }
            initByArray(key);
        }

        private void initGenrand(int s) {
            state[0] = s;
            for (index = 1; index < N; index++) {
                state[index] = 1812433253 * (state[index - 1] ^ (state[index - 1] >>> 30)) + index;
            }
        }

        private void initByArray(int[] key) {
            initGenrand(19650218);
            int i = 1;
            int j = 0;
            for (int k = Math.max(N, key.length); k > 0; k--) {
                state[i] = (state[i] ^ ((state[i - 1] ^ (state[i - 1] >>> 30)) * 1664525)) + key[j] + j;
                i++;
                j++;
                if (i >= N) {
                    state[0] = state[N - 1];
                    i = 1;
                }
                if (j >= key.length) {
                    j = 0;
                }
            }
            for (int k = N - 1; k > 0; k--) {
                state[i] = (state[i] ^ ((state[i - 1] ^ (state[i - 1] >>> 30)) * 1566083941)) - i;
                i++;
                if (i >= N) {
                    state[0] = state[N - 1];
                    i = 1;
                }
            }
            state[0] = 0x80000000;
        }

        int next32() {
            if (index >= N) {
                for (int k = 0; k < N; k++) {
                    int y = (state[k] & 0x80000000) | (state[(k + 1) % N] & 0x7fffffff);
                    state[k] = state[(k + M) % N] ^ (y >>> 1) ^ ((y & 1) != 0 ? 0x9908b0df : 0);
                }
                index = 0;
            }
            int y = state[index++];
            y ^= y >>> 11;
            y ^= (y << 7) & 0x9d2c5680;
            y ^= (y << 15) & 0xefc60000;
            y ^= y >>> 18;
            return y;
        }

        /** randrange(0, n) as CPython's _randbelow_with_getrandbits does it (n below 2^31). */
        int below(int n) {
            int bits = 32 - Integer.numberOfLeadingZeros(n);
            while (true) {
                int r = next32() >>> (32 - bits);
                if (r < n) {
                    return r;
                }
            }
        }
    }
}
