"""Where ExecuTorch 8da4w's error on the default comes from, on the eager model before lowering (seconds,
where an export takes minutes): executorch's own quantization of the default, then the source-grid rewrite
(slm_edge/export/executorch/source_grids.py) with the head at 4 bits, at 8 bits per channel (the product),
and in fp32, each with the int8 per-token activations; and the embedding quantized or not.

One or more 512-token chunks of the prose corpus, all positions past the first half scored, against the
PyTorch reference (the Q4_1 GGUF's dequantized weights): mean KL and top-1 agreement. XNNPACK's lowering
adds its bfloat16 group scales on top; `slm-edge eval` of the real artifact is the figure to quote.

    .venv/bin/python benchmarks/bench_et_error_sources.py [--chunks 2]
"""

from __future__ import annotations

import timing  # noqa: F401  (first: keeps torch's OpenMP threads off the cores)

import argparse
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn


def build(sd, config, embedding_quant: str):
    """executorch's LLM model form, quantized 8da4w g32 as `slm-edge export` asks for it (eager)."""
    from executorch.examples.models.llama.export_llama_lib import _prepare_for_llama_export

    import executorch.extension.llm.custom_ops.custom_ops  # noqa: F401

    from slm_edge.export.executorch.fast import _llm_config
    from slm_edge.export.executorch.hf_to_meta import meta_params
    from slm_edge.export.executorch.lower import runtime_metadata_for

    folder = Path(tempfile.mkdtemp(prefix="slm-edge-bench-"))
    try:
        torch.save(sd, folder / "checkpoint.pth")
        cfg = _llm_config(folder, meta_params(config), runtime_metadata_for(config, 1024, sdpa_with_kv_cache=True),
                          "8da4w", 32, embedding_quant, 1024)
        model = _prepare_for_llama_export(cfg).model
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    model.generate_full_logits = True
    return model


def head_as(model, sd, how: str) -> None:
    """After keep_source_grids: put the head back to executorch's int4, or to fp32."""
    from torchao.quantization import IntxUnpackedToInt8Tensor
    from torchao.quantization.quantize_.workflows.intx.intx_unpacked_to_int8_tensor import (
        IntxUnpackedToInt8TensorActivationQuantization as Act)

    w = sd["output.weight"].float()
    if how == "int4":
        weight = IntxUnpackedToInt8Tensor.from_hp(w, (1, 32), torch.int4, activation_quantization=Act.INT8_ASYM_PER_TOKEN)
    else:
        weight = w
    model.output.weight = nn.Parameter(weight, requires_grad=False)


def score(model, chunks, reference) -> dict:
    kls, same = [], []
    with torch.no_grad():
        for chunk, ref in zip(chunks, reference):
            out = model(torch.tensor([chunk]), {"input_pos": torch.tensor([0])})
            out = out[0] if isinstance(out, tuple) else out
            lp = torch.log_softmax(out[0].float(), -1)
            half = len(chunk) // 2
            kls.append((ref.exp() * (ref - lp)).sum(-1)[half:].numpy())
            same.append((lp.argmax(-1) == ref.argmax(-1))[half:].numpy())
    kl, top1 = np.concatenate(kls), np.concatenate(same)
    return {"kl_mean": float(kl.mean()), "kl_p99": float(np.quantile(kl, 0.99)), "top1": float(top1.mean())}


def main() -> None:
    from slm_edge.export.executorch.hf_to_meta import convert_state_dict
    from slm_edge.export.executorch.source_grids import keep_source_grids
    from slm_edge.model.sources import resolve_source
    from slm_edge.quality.corpus import load_corpus

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(2)
    source = resolve_source("smollm2-135m")
    hf = source.load_model()
    ids = source.load_tokenizer()(load_corpus("prose").documents[0][:20000 * args.chunks])["input_ids"]
    chunks = [ids[i * 512:(i + 1) * 512] for i in range(args.chunks)]
    with torch.no_grad():
        reference = [torch.log_softmax(hf(torch.tensor([c])).logits[0].float(), -1) for c in chunks]
    sd = convert_state_dict(hf.state_dict(), source.config)

    rows = {}
    for label, embedding, grids_kept, head in [
        ("executorch's 8da4w (re-quantizes; head int4)", "8w", False, None),
        ("layers on their Q4_1 grid, head int4", "8w", True, "int4"),
        ("layers on their Q4_1 grid, head 8-bit per channel (the product)", "8w", True, None),
        ("… embedding fp32", "none", True, None),
        ("layers on their Q4_1 grid, head fp32", "8w", True, "fp32"),
    ]:
        model = build(sd, source.config, embedding)
        if grids_kept:
            keep_source_grids(model, sd, 32)
            if head:
                head_as(model, sd, head)
        rows[label] = score(model, chunks, reference)
        r = rows[label]
        print(f"| {label} | {r['kl_mean']:.3e} | {r['kl_p99']:.3e} | {r['top1']:.3f} |", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"chunks": args.chunks, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
