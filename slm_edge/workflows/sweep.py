"""`slm-edge sweep SPEC.yaml`: models × backends × quant schemes → export (cached) + verify + profile
on the emulated device, one run folder per cell, then one combined report.

Resumable: a cell whose run folder holds a complete trace is never run again; a failed cell is
recorded with its error (sweep.json) and the sweep goes on, unless the device is gone: then the
sweep stops after recording it (every later cell would fail the same way) and a rerun resumes.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from slm_edge import cache
from slm_edge.analysis.compare import quantization_effect
from slm_edge.analysis.findings import survey_findings
from slm_edge.analysis.loaded import LoadedRun, load_runs
from slm_edge.contract import TRACE_FILE
from slm_edge.errors import BadInput, ErrorKind, SlmEdgeError
from slm_edge.report import quantization_markdown, write_reports
from slm_edge.report.findings import findings_markdown

SPEC_KEYS = {"name", "models", "backends", "prompt_lengths", "decode_tokens", "threads", "repeats", "warmup",
             "max_seq_len", "verify", "verify_steps", "eval", "eval_tokens", "eval_corpus", "ops"}
DEVICE_THREADS = "device"  # `threads: [device]`: as many threads as the device has cores
STATE_FILE = "sweep.json"


@dataclass
class Cell:
    model: str
    random_weights: bool
    backend: str
    quant: str

    @property
    def name(self) -> str:
        model = Path(self.model).name if ("/" in self.model or self.model.endswith(".gguf")) else self.model
        return f"{model}-{self.backend}-{self.quant}"


@dataclass
class SweepSpec:
    name: str
    cells: list[Cell]
    prompt_lengths: list[int]
    decode_tokens: int = 32
    threads: list[int | str] = field(default_factory=lambda: [2])  # "device": one per core
    repeats: int = 3
    warmup: int = 1
    max_seq_len: int = 512
    verify: bool = True
    verify_steps: int = 16
    eval: bool = True  # `slm-edge eval` on each cell: the quality column and the Pareto front's third axis
    eval_tokens: int = 1024
    eval_corpus: str | None = None  # a shipped corpus [default: prose]
    ops: bool = False  # a per-op breakdown per cell (traced runs apart from the timed ones)

    def only(self, models: list[str] | None = None, backends: list[str] | None = None,
             schemes: list[str] | None = None) -> SweepSpec:
        """The part of the sweep for these models, backends and schemes (as the spec names them)."""
        for asked, known, what in ((models, {c.model for c in self.cells}, "model"),
                                   (backends, {c.backend for c in self.cells}, "backend"),
                                   (schemes, {c.quant for c in self.cells}, "scheme")):
            unknown = sorted(set(asked or ()) - known)
            if unknown:
                raise BadInput(f"sweep {self.name} has no {what} {', '.join(unknown)}",
                               f"use {what}s of the spec: {', '.join(sorted(known))}")
        cells = [c for c in self.cells if (not models or c.model in models) and (not backends or c.backend in backends)
                 and (not schemes or c.quant in schemes)]
        return dataclasses.replace(self, cells=cells)


def load_spec(path: Path) -> SweepSpec:
    from slm_edge.model.recipes import load_yaml_mapping

    path = Path(path)
    data = load_yaml_mapping(path, "sweep spec", "pass a YAML file such as sweeps/quantization-effect.yaml", sorted(SPEC_KEYS))
    unknown = set(data) - SPEC_KEYS
    if unknown:
        raise BadInput(f"sweep spec {path} has unknown keys: {', '.join(sorted(unknown))}",
                       f"use keys from: {', '.join(sorted(SPEC_KEYS))}")
    models = data.get("models") or []
    backends = data.get("backends") or {}
    if (not isinstance(models, list) or not models or not isinstance(backends, dict) or not backends
            or not all(isinstance(v, (list, str)) and v for v in backends.values())):
        raise BadInput(f"sweep spec {path} needs 'models' (a list) and 'backends' (backend: [schemes])",
                       "see sweeps/quantization-effect.yaml")
    cells = []
    for entry in models:
        model = entry if isinstance(entry, str) else entry.get("model") if isinstance(entry, dict) else None
        random_weights = bool(entry.get("random_weights")) if isinstance(entry, dict) else False
        if not isinstance(model, str):
            raise BadInput(f"sweep spec {path}: model entry {entry!r} names no model",
                           "write `- smollm2-135m` or `- {model: qwen2.5-0.5b, random_weights: true}`")
        for backend, schemes in backends.items():
            for quant in schemes if isinstance(schemes, list) else [schemes]:
                cells.append(Cell(model, random_weights, str(backend), str(quant)))
    try:
        return SweepSpec(name=str(data.get("name", path.stem)), cells=cells,
                         prompt_lengths=[int(v) for v in data.get("prompt_lengths", [32, 128])],
                         decode_tokens=int(data.get("decode_tokens", 32)),
                         threads=[v if v == DEVICE_THREADS else int(v) for v in data.get("threads", [2])],
                         repeats=int(data.get("repeats", 3)), warmup=int(data.get("warmup", 1)),
                         max_seq_len=int(data.get("max_seq_len", 512)), verify=bool(data.get("verify", True)),
                         verify_steps=int(data.get("verify_steps", 16)), eval=bool(data.get("eval", True)),
                         eval_tokens=int(data.get("eval_tokens", 1024)), eval_corpus=data.get("eval_corpus"),
                         ops=bool(data.get("ops", False)))
    except (TypeError, ValueError) as exc:
        raise BadInput(f"sweep spec {path}: a number is not a number ({exc})",
                       "write prompt_lengths/threads as lists of integers (threads may say `device`: one per core)") from exc


def _state(out: Path) -> dict:
    path = out / STATE_FILE
    return json.loads(path.read_text()) if path.is_file() else {"cells": {}}


def export_settings(cell: Cell, spec: SweepSpec):
    """The cell's model source and export config: `slm-edge export`'s defaults with the sweep's length
    (capped at the model's positions)."""
    from slm_edge.export.config import ExportConfig
    from slm_edge.model.sources import resolve_source

    source = resolve_source(cell.model, random_weights=cell.random_weights)
    return source, ExportConfig.from_settings(backend=cell.backend, quant=cell.quant).resolved(
        source.config, default_max_seq_len=spec.max_seq_len)


def export_cell(cell: Cell, spec: SweepSpec, out: Path) -> Path:
    """Export (cached), verify and evaluate one cell into out/artifacts/<name>; returns that folder
    (verify.json and eval.json beside the artifact, where the profile reads them). Raises SlmEdgeError."""
    from slm_edge.quality.evaluate import EvalRequest, evaluate_artifact
    from slm_edge.quality.verify import verify_artifact
    from slm_edge.export import export_model
    from slm_edge.progress import StageTimer

    source, config = export_settings(cell, spec)
    outcome = export_model(source, config, Path(out) / "artifacts" / cell.name, timer=StageTimer(quiet=True))
    if spec.verify:
        verify_artifact(outcome.folder, steps=spec.verify_steps)
    if spec.eval:  # before the profile, which records the figures with the run
        evaluate_artifact(outcome.folder, EvalRequest(corpus=spec.eval_corpus, tokens=spec.eval_tokens))
    return outcome.folder


def profile_cell(cell: Cell, spec: SweepSpec, artifact: Path, device, run_dir: Path) -> None:
    """Profile one exported cell on `device` into run_dir (the device's lock held meanwhile)."""
    from slm_edge.workflows.profile import ProfileOptions, profile_artifact

    threads = sorted({device.info()["cores"] if t == DEVICE_THREADS else t for t in spec.threads})
    options = ProfileOptions(prompt_lengths=spec.prompt_lengths, decode_tokens=spec.decode_tokens,
                             repeats=spec.repeats, warmup=spec.warmup, threads=threads, ops=spec.ops)
    profile_artifact(artifact, device, options, run_dir)


def run_cell(cell: Cell, spec: SweepSpec, out: Path) -> None:
    """Export, verify, evaluate and profile one cell on the emulated device; raises SlmEdgeError."""
    from slm_edge.device.local import LocalDevice

    profile_cell(cell, spec, export_cell(cell, spec, out), LocalDevice(), Path(out) / "cells" / cell.name)


def is_complete(out: Path, cell: Cell) -> bool:
    from slm_edge.records.trace import Trace

    trace_path = Path(out) / "cells" / cell.name / TRACE_FILE
    return trace_path.is_file() and Trace.load(trace_path).status == "complete"


def run_sweep(spec: SweepSpec, out: Path, *, progress=print) -> dict:
    """Run every cell not complete before; returns the state (as sweep.json holds it). A cell whose
    device is gone ends the sweep: state["stopped"] then names it and its error."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    state = _state(out)
    state["spec"] = spec.name
    state.pop("stopped", None)
    for index, cell in enumerate(spec.cells):
        if is_complete(out, cell):
            state["cells"][cell.name] = {**state["cells"].get(cell.name, {}), "status": "complete"}
            progress(f"{cell.name}: done before, kept")
            continue
        started = time.perf_counter()
        try:
            run_cell(cell, spec, out)
            state["cells"][cell.name] = {"status": "complete", "seconds": round(time.perf_counter() - started, 1)}
            progress(f"{cell.name}: complete")
        except SlmEdgeError as err:
            state["cells"][cell.name] = {"status": "failed", "error": err.one_line(), "kind": err.kind.value}
            progress(f"{cell.name}: failed — {err.one_line()}")
            if err.kind is ErrorKind.DEVICE_GONE:
                left = len(spec.cells) - index - 1
                state["stopped"] = {"cell": cell.name, "error": err.one_line(), "cells_not_run": left}
                progress(f"the device is gone: sweep stopped, {left} cells not run (rerun to resume)")
        cache.atomic_write_text(out / STATE_FILE, json.dumps(state, indent=2) + "\n")
        if "stopped" in state:
            break
    return state


def completed_runs(out: Path, state: dict) -> list[LoadedRun]:
    """The cells of a sweep that completed, loaded for the combined report."""
    return load_runs([Path(out) / "cells" / name for name, cell in state["cells"].items()
                      if cell["status"] == "complete"])


def write_sweep_reports(out: Path, runs: list[LoadedRun]) -> list[dict]:
    """The combined report of the completed cells (report.json/.csv/.md/.html), what quantization
    buys (quantization.json/.md) and the survey's findings tested on them (findings.json/.md);
    returns the quantization table."""
    out = Path(out)
    write_reports(out, runs, ("json", "csv", "md", "html"), kind="sweep")
    effect = quantization_effect(runs)
    cache.atomic_write_text(out / "quantization.json", json.dumps(effect, indent=2) + "\n")
    cache.atomic_write_text(out / "quantization.md", quantization_markdown(effect))
    findings = survey_findings(runs)
    cache.atomic_write_text(out / "findings.json", json.dumps(findings.to_json(), indent=2) + "\n")
    cache.atomic_write_text(out / "findings.md", findings_markdown(findings))
    return effect
