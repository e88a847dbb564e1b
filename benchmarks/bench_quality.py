"""Quality of the embedded default's schemes: one command exports every variant (once; cached under
$SLM_EDGE_CACHE/bench-quality), runs `slm-edge eval`'s evaluate_artifact on each at the default settings
(corpus prose, 4096 scored tokens, context 512, the artifact's first engine) and llama.cpp on the original
Q4_1 GGUF over the same token chunks, then writes benchmarks/results/quality.{md,json}.

    .venv/bin/python benchmarks/bench_quality.py [--only NAME,...] [--skip-executorch] [--skip-llama]

Rows marked "(experiment)" are not product settings: they patch onnxruntime-genai's builder in this
process (its extra options, or slm-edge's grid-keeping pass switched off) to show what each choice costs;
their exports go to a cache of their own so they never stand in for a real artifact.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"

from slm_edge import cache  # noqa: E402
from slm_edge.quality import figures  # noqa: E402
from slm_edge.quality.evaluate import DEFAULT_CONTEXT, DEFAULT_TOKENS, EvalRequest, evaluate_artifact  # noqa: E402

CORPUS = "prose"


@dataclass
class Variant:
    name: str
    backend: str
    settings: dict
    label: str
    builder_extra: list[str] = field(default_factory=list)  # experiment: the builder's extra options
    requantize: bool = False  # experiment: slm-edge's grid-keeping pass off (the builder alone)
    engines: tuple[str | None, ...] = (None,)

    @property
    def experiment(self) -> bool:
        return bool(self.builder_extra) or self.requantize


def onnx(name, label, block=32, acc=4, quant="int4", **kw):
    settings = {"backend": "onnx", "quant": quant}
    if quant == "int4":
        settings |= {"block_size": block, "accuracy_level": acc}
    return Variant(name, "onnx", settings, label, **kw)


def et(name, label, quant, group=32, emb="8w", **kw):
    settings = {"backend": "executorch", "quant": quant, "embedding_quant": emb}
    if quant != "fp32":
        settings["group_size"] = group
    return Variant(name, "executorch", settings, label, **kw)


HEAD_FP32 = ["shared_embeddings=false", "nodes_to_exclude=/lm_head/MatMul"]
VARIANTS = [
    onnx("onnx-fp32", "ONNX fp32", quant="fp32"),
    onnx("onnx-int4-b32-a4", "ONNX int4 b32 acc4 (default recipe)", engines=(None, "onnxruntime-genai")),
    onnx("onnx-int4-b32-a1", "ONNX int4 b32 acc1", acc=1),
    onnx("onnx-int4-b32-a0", "ONNX int4 b32 acc0", acc=0),
    onnx("onnx-int4-b64-a4", "ONNX int4 b64 acc4", block=64),
    onnx("onnx-int4-b64-a1", "ONNX int4 b64 acc1", block=64, acc=1),
    onnx("onnx-int4-b64-a0", "ONNX int4 b64 acc0", block=64, acc=0),
    onnx("x-onnx-int4-b32-a4-requant", "builder re-quantization, symmetric, b32 acc4 (old default)", requantize=True),
    onnx("x-onnx-int4-b32-a1-requant", "builder re-quantization, symmetric, b32 acc1", acc=1, requantize=True),
    onnx("x-onnx-int4-b32-a4-requant-asym", "builder re-quantization, asymmetric, b32 acc4", requantize=True,
         builder_extra=["is_symmetric=false"]),
    onnx("x-onnx-int4-b32-a4-requant-headfp32", "builder re-quantization, symmetric, b32 acc4, embedding+head fp32",
         requantize=True, builder_extra=HEAD_FP32),
    onnx("x-onnx-int4-b32-a4-requant-asym-headfp32", "builder re-quantization, asymmetric, b32 acc4, embedding+head fp32",
         requantize=True, builder_extra=["is_symmetric=false", *HEAD_FP32]),
    et("et-fp32", "ExecuTorch fp32", "fp32", emb="none"),
    et("et-8da4w-g32-emb8w", "ExecuTorch 8da4w g32, embedding 8w (default recipe)", "8da4w"),
    et("et-8da4w-g32-embnone", "ExecuTorch 8da4w g32, embedding fp32", "8da4w", emb="none"),
    et("et-8da8w-pc-emb8w", "ExecuTorch 8da8w per channel, embedding 8w", "8da8w", group=0),
    et("x-et-8da4w-g32-emb8w-requant", "executorch re-quantization, 8da4w g32, embedding 8w (before)", "8da4w",
       requantize=True),
]


@contextlib.contextmanager
def experiment_patches(variant: Variant, bench_root: Path):
    """Builder extra options / grid pass off, and an artifact cache of their own (the cache key cannot
    see these patches, so their exports must not land where real exports are looked up)."""
    if not variant.experiment:
        yield
        return
    import onnxruntime_genai.models.builder as ob
    from slm_edge.export.executorch import fast as et_fast
    from slm_edge.export.onnx import builder as ours

    original_parse, original_keep, original_root = ob.parse_extra_options, ours._keep_source_grids, cache.root_for
    original_et_keep = et_fast.keep_source_grids
    keys = {x.split("=")[0] for x in variant.builder_extra}

    def parse(*args):
        *head, extra = args
        if "fp32" not in head:  # the grid pass's own fp32 build stays as it is
            extra = [x for x in extra if x.split("=")[0] not in keys] + variant.builder_extra
        return original_parse(*head, extra)

    def root_for(kind):
        return original_root(kind) if kind != "artifacts" else _mkdir(bench_root / "_experiment-artifacts")

    ob.parse_extra_options = parse
    if variant.requantize:
        ours._keep_source_grids = lambda *a, **k: None
        et_fast.keep_source_grids = lambda *a, **k: {}
    cache.root_for = root_for
    try:
        yield
    finally:
        ob.parse_extra_options, ours._keep_source_grids, cache.root_for = original_parse, original_keep, original_root
        et_fast.keep_source_grids = original_et_keep


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def export_variant(variant: Variant, bench_root: Path) -> Path:
    from slm_edge.export import ExportConfig, export_model
    from slm_edge.model.sources import resolve_source
    from slm_edge.progress import StageTimer

    out = bench_root / variant.name
    if (out / "manifest.json").is_file():
        return out  # exported already (delete the folder to export again)
    source = resolve_source("smollm2-135m")
    config = ExportConfig.from_settings(variant.settings).resolved(source.config)
    print(f"export {variant.name} …", file=sys.stderr, flush=True)
    with experiment_patches(variant, bench_root):
        export_model(source, config, out, force=variant.experiment, timer=StageTimer())
    return out


def row_of(name, label, engine, entry, model_bytes=None) -> dict:
    s = entry["summary"]
    return {"variant": name, "label": label, "engine": engine, "feed": entry.get("feed"),
            "model_mib": round(model_bytes / 2**20, 1) if model_bytes else None,
            **{k: s[k] for k in ("ppl_reference", "ppl_artifact", "ppl_artifact_se", "ppl_ratio", "kl_mean",
                                 "kl_median", "kl_p99", "kl_max", "top1_agreement", "scored_tokens")},
            "timing": entry.get("timing")}


# ---- llama.cpp on the original GGUF: a peer, scored over the same chunks -------------------------------

class LlamaCppAlong:
    """The adapter score_chunks needs: every position's logits of a chunk, one prefill."""

    along_feed = "prefill"

    def __init__(self, gguf: Path, context: int, threads: int = 2):
        from llama_cpp import Llama

        self.llm = Llama(model_path=str(gguf), n_ctx=context, logits_all=True, n_threads=threads, verbose=False)
        self.context = context

    def check_length(self, length: int) -> None:
        if length > self.context:
            raise ValueError(f"a chunk of {length} tokens is longer than n_ctx {self.context}")

    def logits_along(self, chunk, feed):
        import torch

        self.check_length(len(chunk))
        self.llm.reset()
        self.llm.eval(list(chunk[:-1]))
        return torch.from_numpy(np.array(self.llm.scores[: len(chunk) - 1], dtype=np.float32))


def evaluate_llama_cpp(reference_folder: Path) -> dict:
    """llama.cpp's logits along the chunks `slm-edge eval` plans for the default (the fp32 ONNX artifact's
    manifest gives the same source and tokenizer), beside the same cached reference."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_peers import ensure_llama_cpp

    from slm_edge.model.sources import default_gguf_path
    from slm_edge.quality.evaluate import plan_chunks, score_chunks
    from slm_edge.quality.reference import ReferenceLogits
    from slm_edge.records.manifest import Manifest

    ensure_llama_cpp()
    manifest = Manifest.read(reference_folder)
    request = EvalRequest(corpus=CORPUS)
    source, chunks = plan_chunks(reference_folder, manifest, request)
    started = time.perf_counter()
    llm = LlamaCppAlong(default_gguf_path(), chunks.context)
    load_s = time.perf_counter() - started
    reference = ReferenceLogits(source, chunks)
    scores, timing = score_chunks(llm, reference, chunks, "prefill")
    entry = {"feed": "prefill", "summary": figures.summary(scores, figures.first_scored(chunks.context)),
             "timing": {"load_s": load_s, **timing, "total_s": time.perf_counter() - started}}
    return entry


# ---- the table ---------------------------------------------------------------------------------------

def versions() -> dict:
    found = {"python": platform.python_version(), "machine": platform.machine()}
    for name in ("torch", "onnxruntime", "onnxruntime-genai", "executorch", "torchao", "transformers",
                 "llama_cpp_python", "slm-edge"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[name] = metadata.version(name)
    return found


def markdown(rows: list[dict]) -> str:
    lines = ["| variant | engine | MiB | PPL | PPL ratio | KL mean | KL median | KL p99 | KL max | same top-1 | eval s |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        t = r.get("timing") or {}
        lines.append(f"| {r['label']} | {r['engine']} | {r['model_mib'] or '—'} | {r['ppl_artifact']:.3f} | "
                     f"{r['ppl_ratio']:.4f} | {r['kl_mean']:.2e} | {r['kl_median']:.2e} | {r['kl_p99']:.2e} | "
                     f"{r['kl_max']:.2e} | {r['top1_agreement']:.4f} | {t.get('total_s', float('nan')):.0f} |")
    return "\n".join(lines) + "\n"


def _cached_entry(folder: Path, request) -> dict | None:
    """The artifact's saved eval (eval.json) at these settings, if the same code and runtime made it."""
    from slm_edge.quality import results
    from slm_edge.quality.evaluate import plan_chunks
    from slm_edge.records.manifest import Manifest
    from slm_edge.runtime.engines import resolve_engine

    manifest = Manifest.read(folder)
    _, chunks = plan_chunks(folder, manifest, request)
    engine = resolve_engine(manifest, request.engine)
    return next((e for feed in ("prefill", "steps") if (e := results.find(folder, chunks, engine, feed))), None)


def _write(fresh: dict, out_json: Path) -> str:
    """Merge this run's rows over what the file holds (another run may have written meanwhile) and write."""
    rows = {(r["variant"], r["engine"]): r for r in json.loads(out_json.read_text())["rows"]} if out_json.is_file() else {}
    rows |= fresh
    order = {v.name: i for i, v in enumerate(VARIANTS)} | {"llama.cpp": len(VARIANTS)}
    table = sorted(rows.values(), key=lambda r: (order.get(r["variant"], 99), r["engine"]))
    settings = {"corpus": CORPUS, "scored_tokens": DEFAULT_TOKENS, "context": DEFAULT_CONTEXT,
                "first_scored": figures.first_scored(DEFAULT_CONTEXT), "reference": "PyTorch fp32 of the source "
                "(the embedded default: the GGUF's dequantized weights)", "model": "smollm2-135m (embedded default)"}
    out_json.write_text(json.dumps({"settings": settings, "versions": versions(), "rows": table}, indent=2) + "\n")
    text = markdown(table)
    (RESULTS / "quality.md").write_text(f"Settings: {json.dumps(settings)}\n\nVersions: {json.dumps(versions())}\n\n{text}")
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated variant names (llama.cpp: 'llama.cpp')")
    parser.add_argument("--skip-executorch", action="store_true")
    parser.add_argument("--skip-llama", action="store_true")
    parser.add_argument("--fresh", action="store_true", help="evaluate again even where eval.json has the result")
    args = parser.parse_args()
    only = set(args.only.split(",")) if args.only else None
    bench_root = _mkdir(cache.cache_root() / "bench-quality")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out_json = RESULTS / "quality.json"
    fresh, failed = {}, []

    for variant in VARIANTS:
        if (only and variant.name not in only) or (args.skip_executorch and variant.backend == "executorch"):
            continue
        try:
            folder = export_variant(variant, bench_root)
            size = sum(p.stat().st_size for p in folder.glob("model.*"))
            for engine in variant.engines:
                request = EvalRequest(corpus=CORPUS, engine=engine)
                entry = None if args.fresh else _cached_entry(folder, request)
                if entry is None:
                    print(f"eval {variant.name} ({engine or 'first engine'}) …", file=sys.stderr, flush=True)
                    entry = evaluate_artifact(folder, request)
                row = row_of(variant.name, variant.label + (" (experiment)" if variant.experiment else ""),
                             entry["engine"], entry, size)
                fresh[(variant.name, entry["engine"])] = row
                _write(fresh, out_json)  # each row as soon as it is measured: a later failure loses nothing
                print(markdown([row]).splitlines()[-1], flush=True)
        except Exception as exc:  # one variant's failure (a builder bug, say) must not cost the others
            failed.append(f"{variant.name}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
            print(f"FAILED {failed[-1]}", file=sys.stderr, flush=True)
    if not args.skip_llama and (not only or "llama.cpp" in only):
        from slm_edge.model.sources import default_gguf_path

        entry = evaluate_llama_cpp(export_variant(VARIANTS[0], bench_root))
        row = row_of("llama.cpp", "llama.cpp on the original Q4_1 GGUF", "llama-cpp-python", entry,
                     default_gguf_path().stat().st_size)
        fresh[("llama.cpp", "llama-cpp-python")] = row
        print(markdown([row]).splitlines()[-1], flush=True)
    print(_write(fresh, out_json))
    for line in failed:
        print(f"failed: {line}")
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
