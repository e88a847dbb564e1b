package dev.slmedge.profiler.core;

import java.io.File;

/**
 * ExecuTorch's text LLM runner end to end (mode "llm_runner"): text in, tokens out, its own
 * stats JSON. On Android it is LlmModule.
 */
public interface TextRunner extends AutoCloseable {
    interface TokenListener {
        void onToken(String piece);
    }

    /** Construct and load the program (the runner would otherwise load on the first generate). */
    void load(File model, File tokenizer, int threads) throws Exception;

    /** Forget the previous conversation (KV cache position back to 0). */
    void reset() throws Exception;

    /**
     * Generate greedily up to seqLen tokens in all, prompt included (LlmRunnerRuns.seqLen says why
     * that is the only limit); returns the runner's stats JSON (or "{}").
     */
    String generate(String prompt, int seqLen, TokenListener listener) throws Exception;

    /** Runtime name, version and how it sets its threads, for the trace's software block. */
    String describe();

    @Override
    void close();
}
