"""Quantization grids a source's weights may already lie on (a GGUF file's blocks), found from the floats.

A GGUF source arrives dequantized: Q4_1 layers and a Q8_0 tied embedding/head in the embedded default.
Quantizing those floats again onto another grid costs as much error as the first quantization
(BENCHMARKS.md, "Quality of the default's schemes"), so each backend keeps the source's grid where its
kernels can hold it. These functions only find the grid; each backend decides how to store it.
"""

from __future__ import annotations

import numpy as np

# A block is "on a grid" when storing it there reproduces the floats to float32 rounding.
GRID_TOLERANCE = 1e-5


def minmax_int4(blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per block [.., block]: q in 0..15, scale, float zero point with w = (q - zp) * scale. A GGUF Q4_1 block
    is exactly this (ggml's quantize_row_q4_1: d = (max - min) / 15, q = round((x - min) / d)), so its
    dequantized floats come back unchanged; an integer zero point cannot hold Q4_1's offset."""
    lo, hi = blocks.min(-1), blocks.max(-1)
    scale = np.where(hi > lo, (hi - lo) / 15, 1.0).astype(np.float32)
    q = np.clip(np.rint((blocks - lo[..., None]) / scale[..., None]), 0, 15).astype(np.uint8)
    return q, scale, (-lo / scale).astype(np.float32)


def symmetric_int8(blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """q in -127..127 and scale = amax / 127 per block: a GGUF Q8_0 block exactly (quantize_row_q8_0)."""
    amax = np.abs(blocks).max(-1)
    scale = np.where(amax > 0, amax / 127, 1.0).astype(np.float32)
    return np.clip(np.rint(blocks / scale[..., None]), -127, 127).astype(np.int16), scale


def block_offsets(scale: np.ndarray, zero_point: np.ndarray) -> np.ndarray:
    """A min/max block stored symmetric, w = s·(q − 8) + s·(8 − zp): the per-block constant s·(8 − zp),
    [N, K/b] in fp32 (computed in fp64 so the sum reproduces the floats)."""
    return (scale.astype(np.float64) * (8 - zero_point.astype(np.float64))).astype(np.float32)


def on_grid(w: np.ndarray, dequantized: np.ndarray) -> bool:
    return float(np.abs(dequantized - w).max()) <= GRID_TOLERANCE * max(float(np.abs(w).max()), 1e-30)


def as_blocks(weight_out_in: np.ndarray, block: int) -> np.ndarray | None:
    """[N, K] → [N, K/block, block], or None when K is no multiple of the block (then no block can align)."""
    n, k = weight_out_in.shape
    if k % block:
        return None
    return np.ascontiguousarray(weight_out_in, dtype=np.float32).reshape(n, k // block, block)


def q4_1_grid(weight_out_in: np.ndarray, block: int):
    """(q 0..15 [N, K/b, b], scale [N, K/b], zero point [N, K/b]) when the weight lies on 4-bit min/max blocks
    of this size, else None."""
    blocks = as_blocks(weight_out_in, block)
    if blocks is None:
        return None
    q, scale, zp = minmax_int4(blocks)
    return (q, scale, zp) if on_grid(blocks, (q - zp[..., None]) * scale[..., None]) else None


def q8_0_grid(weight_out_in: np.ndarray, block: int):
    """(q -127..127 [N, K/b, b], scale [N, K/b]) when the weight lies on 8-bit symmetric blocks, else None."""
    blocks = as_blocks(weight_out_in, block)
    if blocks is None:
        return None
    q, scale = symmetric_int8(blocks)
    return (q, scale) if on_grid(blocks, q * scale[..., None]) else None
