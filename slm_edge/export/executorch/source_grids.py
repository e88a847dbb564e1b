"""Keep a GGUF source's quantization grids through ExecuTorch's 8da4w, instead of quantizing its floats again.

executorch's 8da4w (torchao's Int8DynamicActivationIntxWeightConfig) quantizes every linear's floats onto
symmetric int4 groups, scale amax / 7.5. The embedded default's floats are Q4_1 blocks already (w = min + d·q,
q 0..15): a second, unrelated grid moves each weight by up to half a step again, and the tied head (Q8_0,
8-bit) drops to 4 bits. Together: KL 0.44 against the PyTorch reference (BENCHMARKS.md, "Quality of the
default's schemes").

XNNPACK's blockwise 4-bit weights (qbint4) are symmetric, zero point 8 and no other (its qb4w kernels take
one zero point for the whole tensor), so a Q4_1 block is stored as w = d·(q − 8) + (8·d + min):
the int4 linear on the source's own q and d, plus the per-block constant as an fp32 offset term,
y = x·Wqᵀ + BlockSums(x)·Cᵀ with C[n, b] = 8·d + min. Exact up to XNNPACK storing group scales as bfloat16
(executorch backends/xnnpack/operators/node_visitor.py: `scale.to(torch.bfloat16)` for per_channel_group).
BlockSums is a linear by a 0/1 matrix, so XNNPACK runs it (it has no sum reduction; its mean takes
4-D inputs only), and every projection of one input width shares that matrix: one constant in the .pte.

XNNPACK has no blockwise 8-bit weights ("Only 4-bit per channel group quantization is supported",
node_visitor.py), so a Q8_0 head becomes 8-bit per output channel: a re-quantization, but onto a grid
~5× finer than int4's. The int8 per-token activations of "8da" stay: they are the scheme.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from slm_edge.export import grids

SOURCE_BLOCK = 32  # GGUF's Q4_0/Q4_1/Q8_0 block length


class WithBlockOffsets(nn.Module):
    """A symmetric int4 linear plus the per-block offsets its source grid had: exact Q4_1 on XNNPACK."""

    def __init__(self, linear: nn.Module, offsets: torch.Tensor, block_sums: nn.Linear):
        super().__init__()
        self.linear = linear
        self.block_sums = block_sums  # shared by every projection of this input width
        self.offsets = nn.Linear(offsets.shape[1], offsets.shape[0], bias=False)
        self.offsets.weight = nn.Parameter(offsets, requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x) + self.offsets(self.block_sums(x))


def _block_sums(width: int, block: int) -> nn.Linear:
    ones = torch.zeros(width // block, width)
    for b in range(width // block):
        ones[b, b * block:(b + 1) * block] = 1.0
    linear = nn.Linear(width, width // block, bias=False)
    linear.weight = nn.Parameter(ones, requires_grad=False)
    return linear


def _int_weight(q: np.ndarray, scale: np.ndarray, block: tuple[int, int], bits: torch.dtype, like):
    from torchao.quantization import IntxUnpackedToInt8Tensor

    scale_t = torch.from_numpy(np.ascontiguousarray(scale, dtype=np.float32))
    return IntxUnpackedToInt8Tensor(
        torch.from_numpy(np.ascontiguousarray(q.reshape(q.shape[0], -1), dtype=np.int8)), scale_t,
        torch.zeros(scale_t.shape, dtype=torch.int8), bits, block, torch.float32, like.activation_quantization,
    )


def keep_source_grids(model: nn.Module, floats: dict[str, torch.Tensor], group_size: int) -> dict:
    """Rewrite an 8da4w-quantized model's linears whose source floats lie on a GGUF grid; what changed."""
    from torchao.quantization import IntxUnpackedToInt8Tensor

    layers_kept, head, extra_bytes = 0, None, 0
    shared_sums: dict[int, nn.Linear] = {}
    for name, module in list(model.named_modules()):
        weight = getattr(module, "weight", None)
        if not isinstance(module, nn.Linear) or not isinstance(weight, IntxUnpackedToInt8Tensor):
            continue
        source = floats.get(name + ".weight")
        if source is None or weight.target_dtype != torch.int4:
            continue
        w = source.detach().float().numpy()
        parent_name, _, leaf = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        q4 = grids.q4_1_grid(w, SOURCE_BLOCK) if group_size == SOURCE_BLOCK else None
        if q4 is not None:
            q, scale, zp = q4
            module.weight = nn.Parameter(_int_weight(q.astype(np.int16) - 8, scale, (1, SOURCE_BLOCK), torch.int4,
                                                     weight), requires_grad=False)
            offsets = grids.block_offsets(scale, zp)
            width = w.shape[1]
            if width not in shared_sums:
                shared_sums[width] = _block_sums(width, SOURCE_BLOCK)
                extra_bytes += shared_sums[width].weight.numel() * 4
            sums = shared_sums[width]
            extra_bytes += offsets.nbytes
            setattr(parent, leaf, WithBlockOffsets(module, torch.from_numpy(offsets), sums))
            layers_kept += 1
        elif grids.q8_0_grid(w, SOURCE_BLOCK) is not None:
            q, scale = grids.symmetric_int8(w[:, None, :])  # one block a row: per channel
            module.weight = nn.Parameter(_int_weight(q, scale, (1, w.shape[1]), torch.int8, weight),
                                         requires_grad=False)
            head = name if head is None else f"{head}, {name}"
            rows, width = w.shape
            old_scales = rows * (width // group_size if group_size else 1)
            extra_bytes += rows * width // 2 + (rows - old_scales) * 4  # 8 bits instead of 4, row scales
    if not layers_kept and head is None:
        return {}
    out = {"int4_q4_1_layers": layers_kept, "extra_weight_bytes": int(extra_bytes),
           "note": "Q4_1 layers as symmetric int4 + fp32 block offsets (exact)"}
    if head is not None:
        out["int8_per_channel"] = head
        out["note"] += f"; Q8_0 {head} as 8-bit per channel (XNNPACK has no blockwise 8-bit)"
    return out
