package dev.slmedge.profiler.core;

import static org.junit.Assert.assertEquals;

import org.junit.Test;

/**
 * Mode llm_runner: the sequence length LlmModule gets for a config. The cases are the same as
 * tests/test_profile.py's test_llm_runner_generation_config_is_the_apps (the Linux runner), so one
 * config means one run on both.
 */
public class LlmRunnerRunsTest {
    /** {prompt_length, decode_tokens, max_seq_len, seq_len}. */
    static final int[][] CASES = {
        {16, 12, 128, 28},
        {1, 1, 128, 2},
        {100, 28, 128, 128},
        {120, 20, 128, 128}, // over max_seq_len: the loop refuses it first; the rule still caps it
    };

    @Test
    public void seqLenIsPromptPlusDecodeCappedByTheArtifact() {
        for (int[] c : CASES) {
            assertEquals("prompt " + c[0] + " decode " + c[1] + " max " + c[2], c[3],
                    LlmRunnerRuns.seqLen(c[0], c[1], c[2]));
        }
    }

    /** TextLLMRunner's resolution with only seq_len set (irunner.h), which is all LlmModule passes. */
    static int newTokens(int seqLen, int maxContextLen, int promptTokens) {
        return Math.max(0, Math.min(seqLen, maxContextLen) - promptTokens);
    }

    @Test
    public void thePromptAtItsNominalLengthGetsDecodeTokensNewTokens() {
        for (int[] c : CASES) {
            if (c[0] + c[1] <= c[2]) {
                assertEquals(c[1], newTokens(LlmRunnerRuns.seqLen(c[0], c[1], c[2]), c[2], c[0]));
            }
        }
    }
}
