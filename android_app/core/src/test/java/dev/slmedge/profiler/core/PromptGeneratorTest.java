package dev.slmedge.profiler.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertThrows;

import org.junit.Test;

public class PromptGeneratorTest {
    // Expected values from the Linux runner: slm_edge.runner.steps.prompt_for(length, vocab, seed).
    @Test
    public void matchesThePythonRunnersPrompts() {
        assertArrayEquals(new int[] {119, 192, 195, 67, 101, 25, 46, 73}, PromptGenerator.prompt(8, 320, 0));
        assertArrayEquals(new int[] {6422, 48066, 47341, 35527, 38474}, PromptGenerator.prompt(5, 49152, 7));
        assertArrayEquals(new int[] {113, 509, 987, 41}, PromptGenerator.prompt(4, 1000, -3));
    }

    @Test
    public void refusesAVocabularyWithNoOrdinaryTokens() {
        assertThrows(IllegalArgumentException.class, () -> PromptGenerator.prompt(4, 3, 0));
    }
}
