"""The one interface every engine offers: step(tokens, start) feeds tokens at positions start.. and
returns the next-token logits; a new sequence starts at 0."""

from __future__ import annotations

from typing import TYPE_CHECKING

from slm_edge.errors import BadInput

if TYPE_CHECKING:  # torch loads with the runtimes, not with the CLI's start-up
    import torch


class StepLlm:
    max_seq_len: int = 0

    def step(self, tokens: list[int], start: int) -> torch.Tensor:  # pragma: no cover - interface
        raise NotImplementedError

    def check_length(self, end: int) -> None:
        if end > self.max_seq_len:
            raise BadInput(
                f"sequence of {end} tokens exceeds the artifact's max length {self.max_seq_len}",
                "re-export with a larger {max_seq_len} or use a shorter prompt/decode length",
            )

    def check_continues(self, start: int, cached: int) -> None:
        """Engines that keep the cache outside the model can only extend the sequence they hold."""
        if start != cached:
            raise BadInput(f"position {start} does not continue the cached sequence of {cached} tokens",
                           "feed tokens in order, starting a new sequence at position 0")

    # How logits_along feeds a chunk: "steps" (one token a step, what the phone's app does on every
    # engine) or "prefill" (one forward returning every position's logits).
    along_feed: str = "steps"

    def logits_along(self, chunk: list[int], feed: str | None = None) -> torch.Tensor:
        """Teacher forcing: the next-token logits after each of chunk[:-1], a new sequence from
        position 0 ([len(chunk) - 1, vocab], float32), fed as `feed` says (default: along_feed)."""
        import torch

        self.check_length(len(chunk) - 1)
        if (feed or self.along_feed) == "prefill":
            return self.chunk_logits(list(chunk[:-1]))
        return torch.stack([self.step([token], position) for position, token in enumerate(chunk[:-1])])

    def chunk_logits(self, tokens: list[int]) -> torch.Tensor:
        """One forward over tokens from position 0: every position's logits ([len, vocab], float32).
        Engines whose model returns them override this."""
        raise BadInput("this engine returns the last position's logits only, so a chunk cannot be fed at once",
                       "use {feed} steps")

    def greedy(self, prompt: list[int], new_tokens: int) -> tuple[list[int], list[torch.Tensor]]:
        """Greedy decode: the tokens chosen and the next-token logits that chose each of them."""
        import torch

        logits = self.step(prompt, 0)
        chosen, per_step = [], []
        position = len(prompt)
        for _ in range(new_tokens):
            per_step.append(logits)
            token = int(torch.argmax(logits))
            chosen.append(token)
            logits = self.step([token], position)
            position += 1
        return chosen, per_step
