"""Run an LLM .pte with the ExecuTorch runtime (pybindings): prefill N tokens, then one token a step."""

from __future__ import annotations

from pathlib import Path

import torch

from slm_edge.errors import BadInput, RuntimeFailure
from slm_edge.runtime.step import StepLlm

_CONSTANT_METHODS = (
    "get_max_seq_len",
    "get_max_context_len",
    "get_vocab_size",
    "use_kv_cache",
    "use_sdpa_with_kv_cache",
    "enable_dynamic_shape",
    "get_bos_id",
    "get_eos_ids",
    "get_n_layers",
)


def last_position_only() -> BadInput:
    """A chunk asked of a .pte exported without full_logits (eval checks the manifest before loading)."""
    return BadInput("this .pte returns the last position's logits only, so a chunk cannot be fed at once",
                    "use {feed} steps, or re-export with {full_logits}")


def register_llm_ops() -> None:
    """The fast path's .pte needs llama::custom_sdpa/update_cache and the quantized kernels
    registered before loading, or loading fails with "Missing operator" (error 0x14)."""
    import executorch.extension.llm.custom_ops.custom_ops  # noqa: F401
    import executorch.kernels.quantized  # noqa: F401


def set_threads(threads: int) -> None:
    """Size ExecuTorch's process-wide threadpool (XNNPACK runs on it)."""
    from executorch.extension.pybindings.portable_lib import _threadpool_get_thread_count, _unsafe_reset_threadpool

    if threads > 0 and _threadpool_get_thread_count() != threads:
        _unsafe_reset_threadpool(threads)


def forward_chunks(length: int, max_chunk: int) -> list[tuple[int, int]]:
    """(offset, size) of each forward that feeds `length` tokens: one, or pieces of at most max_chunk
    (a ring program's limit, its get_max_seq_len; 0: no limit). The app's ForwardChunks.java splits alike."""
    size = max_chunk if 0 < max_chunk < length else max(length, 1)
    return [(offset, min(size, length - offset)) for offset in range(0, length, size)]


class EtLlm(StepLlm):
    """One loaded .pte. The KV cache lives inside the program, so a new sequence starts at position 0."""

    def __init__(self, pte: Path, threads: int = 0, etdump: bool = False, full_logits: bool = False):
        """etdump: record every executed op (ETDump event tracer) for `write_etdump`; costs time.
        full_logits: the program returns every position's logits (export's full_logits setting), so
        teacher forcing takes one forward a chunk."""
        register_llm_ops()
        from executorch.runtime import Runtime

        set_threads(threads)
        try:
            self.program = Runtime.get().load_program(str(pte), enable_etdump=etdump)
            self.forward = self.program.load_method("forward")
        except Exception as exc:  # the runtime raises RuntimeError with an error code only
            # the manifest's hashes passed: the runtime failed on a program this slm-edge exported
            raise RuntimeFailure(
                f"ExecuTorch could not load {pte}: {exc}",
                "re-export the artifact with this slm-edge version (`slm-edge export ... {force}`)",
            ) from exc
        self.metadata = {}
        for name in _CONSTANT_METHODS:
            if name in self.program.method_names:
                value = self.program.load_method(name).execute([])
                self.metadata[name] = value[0] if len(value) == 1 else list(value)
        # Fast-path programs take a one-element start position; transformers' wrapper takes one
        # cache position per token (the C++ runner tells them apart the same way).
        self.takes_start_pos = bool(self.metadata.get("use_sdpa_with_kv_cache", False))
        # executorch's convention: get_max_seq_len is the most one forward takes, get_max_context_len
        # the positions the cache holds (older programs: one number for both)
        self.max_chunk = int(self.metadata.get("get_max_seq_len", 0))
        self.max_seq_len = int(self.metadata.get("get_max_context_len", self.max_chunk))
        self.along_feed = "prefill" if full_logits else "steps"

    def _chunks(self, tokens: list[int], start: int):
        """(tokens, start) of each forward, fed in order as executorch's runner feeds a long prompt."""
        self.check_length(start + len(tokens))
        for offset, size in forward_chunks(len(tokens), self.max_chunk):
            yield tokens[offset:offset + size], start + offset

    def _forward(self, tokens: list[int], start: int) -> torch.Tensor:
        ids = torch.tensor([tokens], dtype=torch.long)
        if self.takes_start_pos:
            position = torch.tensor([start], dtype=torch.long)
        else:
            position = torch.arange(start, start + len(tokens), dtype=torch.long)
        return self.forward.execute([ids, position])[0]

    def step(self, tokens: list[int], start: int) -> torch.Tensor:
        """Feed `tokens` at positions start.. and return the logits of the last one (float32, [vocab])."""
        for chunk, position in self._chunks(tokens, start):
            logits = self._forward(chunk, position)
        if logits.dim() == 3:
            logits = logits[:, -1, :]
        return logits.reshape(-1).to(torch.float32)

    def chunk_logits(self, tokens: list[int]) -> torch.Tensor:
        """One forward, when the program returns every position's logits (exported with full_logits)."""
        if self.along_feed != "prefill":
            raise last_position_only()
        parts = [self._forward(chunk, position) for chunk, position in self._chunks(tokens, 0)]
        return torch.cat([p.reshape(-1, p.shape[-1]) for p in parts]).to(torch.float32)

    def write_etdump(self, path: Path) -> Path:
        """The ETDump of everything run since loading (needs etdump=True); no debug buffer (no tensors kept)."""
        self.program.write_etdump_result_to_file(str(path), None)
        return path
