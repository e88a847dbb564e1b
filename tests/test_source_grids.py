"""A GGUF source's grids kept through quantization: found from the floats, stored exactly (ExecuTorch 8da4w)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from slm_edge.export import grids
from slm_edge.export.executorch.source_grids import WithBlockOffsets, keep_source_grids


def q4_1(w: torch.Tensor, block: int = 32) -> torch.Tensor:
    """ggml's quantize_row_q4_1 then dequantize: d = (max - min) / 15, q = round((x - min) / d), x' = min + d·q."""
    b = w.reshape(w.shape[0], -1, block)
    lo, hi = b.amin(-1, keepdim=True), b.amax(-1, keepdim=True)
    d = torch.where(hi > lo, (hi - lo) / 15, torch.ones_like(hi))  # a constant block (a padding row): q = 0
    return (lo + d * torch.clamp(torch.round((b - lo) / d), 0, 15)).reshape(w.shape)


def q8_0(w: torch.Tensor, block: int = 32) -> torch.Tensor:
    """ggml's quantize_row_q8_0 then dequantize: d = amax / 127, q = round(x / d)."""
    b = w.reshape(w.shape[0], -1, block)
    amax = b.abs().amax(-1, keepdim=True)
    d = torch.where(amax > 0, amax / 127, torch.ones_like(amax))  # ggml: id = d ? 1/d : 0
    return (d * torch.round(b / d)).reshape(w.shape)


def test_grids_are_found_only_where_the_floats_lie_on_them():
    torch.manual_seed(0)
    w = torch.randn(48, 96)
    assert grids.q4_1_grid(w.numpy(), 32) is None and grids.q8_0_grid(w.numpy(), 32) is None
    on4, on8 = q4_1(w).numpy(), q8_0(w).numpy()
    q, scale, zp = grids.q4_1_grid(on4, 32)
    assert q.max() <= 15 and np.allclose((q - zp[..., None]) * scale[..., None], on4.reshape(48, 3, 32), atol=1e-6)
    assert grids.q4_1_grid(on4, 64) is None  # a 64-block grid is not the source's 32-block one
    assert grids.q4_1_grid(on4[:, :80], 32) is None  # width no multiple of the block
    q8, d = grids.q8_0_grid(on8, 32)
    assert np.abs(q8).max() == 127 and np.allclose(q8 * d[..., None], on8.reshape(48, 3, 32), atol=1e-6)
    assert grids.q8_0_grid(on4, 32) is None


class TwoLayers(nn.Module):
    def __init__(self):
        super().__init__()
        self.up = nn.Linear(64, 96, bias=False)
        self.output = nn.Linear(96, 40, bias=False)

    def forward(self, x):
        return self.output(self.up(x))


def _quantized_like_executorch(floats: dict) -> nn.Module:
    """What executorch's 8da4w does to a model (examples/models/llama/source_transformation/quantize.py)."""
    from torchao.quantization import Int8DynamicActivationIntxWeightConfig, quantize_
    from torchao.quantization.granularity import PerGroup

    model = TwoLayers()
    model.load_state_dict(floats)
    quantize_(model, Int8DynamicActivationIntxWeightConfig(weight_dtype=torch.int4, weight_granularity=PerGroup(32)))
    return model


def test_executorch_8da4w_keeps_q4_1_layers_exactly_and_a_q8_0_head_at_8_bits():
    torch.manual_seed(1)
    floats = {"up.weight": q4_1(torch.randn(96, 64) * 0.1), "output.weight": q8_0(torch.randn(40, 96) * 0.1)}
    x = torch.randn(3, 64)
    exact = x @ floats["up.weight"].T @ floats["output.weight"].T

    plain = _quantized_like_executorch(floats)
    kept_model = _quantized_like_executorch(floats)
    kept = keep_source_grids(kept_model, floats, group_size=32)
    assert kept["int4_q4_1_layers"] == 1 and kept["int8_per_channel"] == "output"
    assert kept["extra_weight_bytes"] == 96 * 2 * 4 + 2 * 64 * 4 + (40 * 96 // 2 + (40 - 40 * 3) * 4)

    # the int4 weight plus its block offsets is the Q4_1 weight, to float rounding
    up = kept_model.up
    assert isinstance(up, WithBlockOffsets)
    effective = up.linear.weight.dequantize() + up.offsets.weight.repeat_interleave(32, dim=1)
    assert torch.allclose(effective, floats["up.weight"], atol=1e-6)
    assert up.linear.weight.qdata.min() >= -8 and up.linear.weight.qdata.max() <= 7

    with torch.no_grad():
        plain_error = (plain(x) - exact).abs().max()
        kept_error = (kept_model(x) - exact).abs().max()
    # what is left is the int8 activations and the 8-bit head; re-quantizing costs several times more
    assert kept_error < plain_error / 3, (kept_error, plain_error)


def test_floats_on_no_grid_are_left_to_executorch():
    torch.manual_seed(2)
    floats = {"up.weight": torch.randn(96, 64) * 0.1, "output.weight": torch.randn(40, 96) * 0.1}
    model = _quantized_like_executorch(floats)
    assert keep_source_grids(model, floats, group_size=32) == {}
    assert isinstance(model.up, nn.Linear)


@pytest.fixture(scope="module")
def tiny_llama_on_gguf_grids(tiny_llama, tmp_path_factory):
    """tiny_llama with Q4_1 layers and a Q8_0 tied embedding, as a GGUF file dequantizes."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_llama)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("proj.weight"):
                p.copy_(q4_1(p))
            elif name == "model.embed_tokens.weight":
                p.copy_(q8_0(p))
    folder = tmp_path_factory.mktemp("tiny-llama-gguf-grids")
    model.save_pretrained(folder)
    return folder


def test_executorch_8da4w_export_keeps_the_grids_and_runs(tiny_llama_on_gguf_grids, tmp_path):
    from slm_edge.export import ExportRequest, export_model
    from slm_edge.model.memory import predict_weight_bytes
    from slm_edge.model.sources import resolve_source
    from slm_edge.progress import StageTimer
    from slm_edge.quality.verify import verify_artifact

    outcome = export_model(resolve_source(str(tiny_llama_on_gguf_grids)),
                           ExportRequest(quant="8da4w", group_size=32, embedding_quant="8w", max_seq_len=64),
                           tmp_path / "artifact", timer=StageTimer(quiet=True))
    manifest = outcome.manifest
    grids_kept = manifest.quantization.source_grids
    assert grids_kept["int4_q4_1_layers"] == 2 * 7 and grids_kept["int8_per_channel"] == "output"
    assert manifest.runtime.delegation["backends"] == ("XnnpackBackend",)
    # the prediction counts the offsets and the 8-bit head on top of the scheme's int4
    plain = predict_weight_bytes(resolve_source(str(tiny_llama_on_gguf_grids)).config, "8da4w", 32, "8w")
    assert manifest.predicted_memory.weight_bytes == plain + grids_kept["extra_weight_bytes"]
    # the lowered program computes what the eager rewrite does: close to the reference, top-1 mostly kept
    result = verify_artifact(outcome.folder, steps=32)
    assert result["mean_kl"] < 0.05, result
    assert result["teacher_forced_top1_agreement"] >= 0.9, result


def test_random_weights_skip_the_grid_scan(tiny_llama_on_gguf_grids, tmp_path):
    """Drawn weights lie on no GGUF grid: the exporter does not look (the scan took 39 s on the 1B card).
    The flag is honoured even here, where the floats do lie on grids, so the test can tell."""
    from slm_edge.export.executorch.fast import export_fast
    from slm_edge.model.sources import resolve_source
    from slm_edge.progress import StageTimer

    source = resolve_source(str(tiny_llama_on_gguf_grids))
    timer = StageTimer(quiet=True)
    lowered = export_fast(source.load_model(), source.config, scheme="8da4w", group_size=32, embedding_quant="8w",
                          max_seq_len=64, workdir=tmp_path, timer=timer, random_weights=True)
    assert lowered.source_grids == {} and "keep the source's quantization grids" not in timer.seconds
    assert lowered.pte.is_file()
