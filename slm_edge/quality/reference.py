"""The PyTorch reference's next-token logits over a corpus's chunks, computed once and cached.

Stored as llama.cpp's --kl-divergence-base file stores them (perplexity.cpp, log_softmax with a
uint16 output): per position the top logit, and every logit as a uint16 step above (top − RANGE);
here RANGE is 32 nats (llama.cpp: 16), a step of 4.9e-4 nats, whose rounding moves a KL by ~1e-8,
far below the 1e-4 an fp32 artifact must stay under. Tokens more than 32 nats below the top one
(relative probability < 1e-14) sit at the floor. Files are .npy (numpy's own format, no pickles);
a chunk of the default (511 positions x 49,152 tokens) is 50 MB, 0.85 GB for 4,096 scored tokens.
Nothing prunes the cache: remove $SLM_EDGE_CACHE/reference-logits to reclaim it.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from slm_edge import cache
from slm_edge.model.sources import ModelSource
from slm_edge.quality.corpus import Chunks

RANGE_NATS = 32.0
STEPS = 65535
FORMAT_VERSION = 1


def cache_folder(source: ModelSource, chunks: Chunks) -> Path:
    import torch
    import transformers

    key = cache.sha256_json({"format": FORMAT_VERSION, "source": source.source_hash, "chunks": chunks.chunks,
                             "torch": torch.__version__, "transformers": transformers.__version__})
    return cache.cache_root() / "reference-logits" / key[:32]


def encode(logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    top = logits.max(axis=-1, keepdims=True)
    steps = np.rint((logits - (top - RANGE_NATS)) * (STEPS / RANGE_NATS))
    return top[..., 0].astype(np.float32), np.clip(steps, 0, STEPS).astype(np.uint16)


def decode(top: np.ndarray, steps: np.ndarray) -> np.ndarray:
    return (top[..., None] - RANGE_NATS) + steps.astype(np.float32) * np.float32(RANGE_NATS / STEPS)


class ReferenceLogits:
    """The reference's logits chunk by chunk (rows p predict token p+1), from the cache or computed
    (the model loads only when something is missing); `seconds` is what computing them took."""

    def __init__(self, source: ModelSource, chunks: Chunks):
        self.source, self.chunks = source, chunks
        self.folder = cache_folder(source, chunks)
        self.model = None
        self.seconds = 0.0
        self.cached = all(self._path(i, "steps").is_file() for i in range(len(chunks.chunks)))

    def _path(self, index: int, part: str) -> Path:
        return self.folder / f"chunk-{index:04d}-{part}.npy"

    def chunk(self, index: int) -> np.ndarray:
        steps_path, top_path = self._path(index, "steps"), self._path(index, "top")
        if not steps_path.is_file():
            self._compute(index)
        return decode(np.load(top_path, allow_pickle=False), np.load(steps_path, mmap_mode="r", allow_pickle=False))

    def _compute(self, index: int) -> None:
        import torch

        start = time.perf_counter()
        if self.model is None:
            self.model = self.source.load_model()
        with torch.no_grad():
            logits = self.model(torch.tensor([self.chunks.chunks[index][:-1]])).logits[0].float().numpy()
        top, steps = encode(logits)
        self.folder.mkdir(parents=True, exist_ok=True)
        for part, array in (("top", top), ("steps", steps)):  # steps last: its presence means the chunk is whole
            # a name of its own: two evals of one model (fp32 and int4, sweep cells) may write the same chunk
            handle, temporary = tempfile.mkstemp(dir=self.folder, suffix=".npy")
            with os.fdopen(handle, "wb") as out:
                np.save(out, array, allow_pickle=False)
            os.replace(temporary, self._path(index, part))
        (self.folder / "about.json").write_text(json.dumps({"model": self.source.name, "corpus": self.chunks.corpus,
                                                            "chunks": len(self.chunks.chunks)}) + "\n")
        self.seconds += time.perf_counter() - start
