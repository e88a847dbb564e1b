"""ExecuTorch lowering, executorch's own against slm-edge's (patches.py and the export changes of issue 15),
side by side on the default cut to a few layers (`--layers`, same widths, real weights, GGUF grids kept) or
on a card's tiny model (`--card`, the tests' TINY sizes). Modes alternate per round; per export: the
"lower to XNNPACK" and total seconds, the .pte's sha256, its planned activation bytes and delegate calls,
and how far its logits (a 37-token prompt, then 4 steps) are from the first mode's.

    .venv/bin/python benchmarks/bench_lowering_ab.py [--layers 4 | --card smollm2-135m] [--quant 8da4w] [--rounds 1]
"""

from __future__ import annotations

import timing  # noqa: F401  (first: keeps torch's OpenMP threads off the runtime's cores)

import argparse
import contextlib
import hashlib
import sys
import tempfile
import time
from pathlib import Path

from bench_export_time import executorch_own_lowering

HERE = Path(__file__).resolve().parent
MODES = {"executorch": executorch_own_lowering, "slm-edge": contextlib.nullcontext}


def source_and_model(args, work: Path):
    from slm_edge.model.sources import resolve_source

    if args.card:
        sys.path.insert(0, str(HERE.parent / "tests"))
        from conftest import save_tiny_model

        source = resolve_source(str(save_tiny_model(work / "model", args.card)))
        return source.config, source.load_model()
    source = resolve_source("smollm2-135m")
    model = source.load_model()
    model.model.layers = model.model.layers[:args.layers]
    model.config.num_hidden_layers = args.layers
    return dict(source.config, num_hidden_layers=args.layers), model


def logits_of(pte: Path, vocab: int):
    import torch

    from slm_edge.runtime.executorch_llm import EtLlm

    llm = EtLlm(pte)
    prompt = torch.randint(0, vocab, (37,), generator=torch.Generator().manual_seed(0)).tolist()
    return torch.stack([llm.step(prompt, 0)] + [llm.step([t], len(prompt) + i) for i, t in enumerate((5, 77, 901, 40))])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--card", help="a card's tiny model instead of the cut default")
    parser.add_argument("--quant", default="8da4w")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="slm-edge-lowering-ab-"))
    from slm_edge.export.executorch.fast import export_fast
    from slm_edge.progress import StageTimer

    config, model = source_and_model(args, work)
    max_seq_len = 64 if args.card else 1024
    print(f"| round | lowering | lower to XNNPACK s | export s | .pte sha256 | planned activations | delegates | max logit diff |")
    print("|---|---|---|---|---|---|---|---|")
    first = None
    for round_index in range(args.rounds):
        for mode in (list(MODES) if round_index % 2 == 0 else list(reversed(MODES))):
            timer = StageTimer(quiet=True)
            folder = work / f"{round_index}-{mode}"
            folder.mkdir()
            started = time.perf_counter()
            with MODES[mode]():
                lowered = export_fast(model, config, scheme=args.quant, group_size=32,
                                      embedding_quant="none" if args.quant == "fp32" else "8w",
                                      max_seq_len=max_seq_len, workdir=folder, timer=timer)
            total = time.perf_counter() - started
            logits = logits_of(lowered.pte, config["vocab_size"])
            first = logits if first is None else first
            print(f"| {round_index + 1} | {mode} | {timer.seconds['lower to XNNPACK']:.1f} | {total:.1f} | "
                  f"{hashlib.sha256(lowered.pte.read_bytes()).hexdigest()[:16]} | {lowered.planned_activation_bytes:,} | "
                  f"{lowered.delegation['delegate_calls']} | {(logits - first).abs().max().item():.3g} |", flush=True)


if __name__ == "__main__":
    main()
