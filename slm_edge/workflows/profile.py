"""`slm-edge profile`: push an artifact to a device, run the runner, pull the trace, write the reports.

Whatever was measured is kept: the trace is pulled and the reports written even when the runner
crashed or timed out part-way; only then does the command report the failure.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from slm_edge import cache
from slm_edge.analysis.loaded import LoadedRun, loaded
from slm_edge.analysis.run import RunAnalysis
from slm_edge.device import Device
from slm_edge.device.lock import device_lock
from slm_edge.device.safe_paths import local_path_for
from slm_edge.errors import BadInput, RuntimeFailure, SlmEdgeError
from slm_edge.contract import MANIFEST, RUN_CONFIG_FILE, TRACE_FILE, VERIFY_FILE
from slm_edge.records._json import freeze
from slm_edge.quality.results import latest_summary
from slm_edge.records.manifest import Manifest
from slm_edge.records.trace import ArtifactFacts, HostSection, RunArtifact, RunConfig, Trace
from slm_edge.report import write_reports

LOG_TAIL_LINES = 40


@dataclass
class ProfileOptions:
    prompt_lengths: list[int] = field(default_factory=lambda: [32, 128, 512])
    decode_tokens: int = 64
    repeats: int = 5
    warmup: int = 1
    threads: list[int] = field(default_factory=lambda: [2])
    sample_interval_ms: float = 50.0
    memory_sampling: bool = True
    timeout_s: float = 3600.0
    keep: bool = False
    mode: str = "steps"
    engine: str | None = None  # None: the artifact's first engine
    ops: bool = False  # per-op breakdown (onnxruntime's profiler), in runs separate from the timed ones
    lock_wait_s: float = 0.0  # how long to queue behind another profile on the same device
    eval_chunks: tuple[tuple[int, ...], ...] | None = None  # mode eval: the token chunks to score (workflows.evaluate)
    sustained_s: float | None = None  # mode sustained: seconds of decoding without a pause
    cooldown: dict | None = None  # the gate before each measured repeat: {max_wait_s, temp_c, within_c, poll_s}
    cpus: str | None = None  # cores to pin the runner to, as --cpus takes them (resolve_cpus)


@dataclass(frozen=True)
class ProfileOutcome:
    run_dir: Path
    trace: Trace
    analysis: RunAnalysis

    @property
    def run(self) -> LoadedRun:
        """The run as reports take it (what `report RUN_DIR` would load)."""
        return LoadedRun(name=self.run_dir.name, folder=self.run_dir, trace=self.trace, analysis=self.analysis)


CLUSTERS = ("big", "mid", "little")


def resolve_cpus(spec: str, device: dict) -> list[int]:
    """--cpus → core indices: '0,1', '0-3', a hex mask '0xf0', or a cluster (big: the cores of the
    highest maximum frequency, little: the lowest, mid: those between), from the device's facts."""
    cores = int(device.get("cores") or 1)
    text = spec.strip().lower()
    if text in CLUSTERS:
        maxima = device.get("cpu_max_freq_khz") or []
        known = sorted({f for f in maxima if f})
        if not known:
            raise BadInput(f"{{cpus}} {text} needs the cores' maximum frequencies, and this device reports none",
                           "name the cores instead, e.g. {cpus} 0,1")
        wanted = {"big": {known[-1]}, "little": {known[0]}, "mid": set(known[1:-1])}[text]
        chosen = [core for core, f in enumerate(maxima) if f in wanted]
        if not chosen:
            raise BadInput(f"this device has no {text} cluster (maximum frequencies: "
                           f"{', '.join(f'{f / 1e6:.2f} GHz' for f in known)})", "choose big or little, or name the cores")
        return chosen
    try:
        if text.startswith("0x"):
            mask = int(text, 16)
            chosen = [core for core in range(mask.bit_length()) if mask >> core & 1]
        else:
            chosen = []
            for part in text.split(","):
                first, _, last = part.partition("-")
                chosen += list(range(int(first), int(last or first) + 1))
    except ValueError:
        raise BadInput(f"{{cpus}} {spec!r} is not a core list, mask or cluster",
                       "use e.g. 0,1 or 0-3 or 0xf0 or big/mid/little") from None
    outside = [core for core in chosen if not 0 <= core < cores]
    if not chosen or outside:
        raise BadInput(f"{{cpus}} {spec!r} names cores the device does not have (it has 0-{cores - 1})",
                       f"choose cores between 0 and {cores - 1}")
    return sorted(set(chosen))


def build_config(manifest: Manifest, manifest_sha: str, artifact_remote_dir: str, options: ProfileOptions,
                 cpus: list[int] | None = None) -> RunConfig:
    from slm_edge.runtime.engines import resolve_engine

    meta = manifest.runtime.metadata or {}
    engine = resolve_engine(manifest, options.engine)
    if options.ops and engine not in ("onnxruntime", "executorch"):
        raise BadInput(f"{{ops}} is built for the onnxruntime and executorch engines, not {engine}",
                       "drop {ops}, or profile with {engine} onnxruntime (ONNX) or an ExecuTorch artifact")
    if options.ops and options.mode == "llm_runner":
        raise BadInput("{ops} traces our own prefill/decode steps; the llm_runner mode runs executorch's TextLLMRunner",
                       "use {mode} steps with {ops}")
    if options.mode == "llm_runner" and engine != "executorch":
        raise BadInput("the llm_runner mode is executorch's TextLLMRunner and this artifact runs on " + engine,
                       "use {mode} steps for ONNX artifacts")
    artifact = RunArtifact(dir=artifact_remote_dir, model_file=manifest.model_file, engine=engine,
                           manifest_sha256=manifest_sha, max_seq_len=manifest.max_seq_len,
                           vocab_size=manifest.architecture.vocab_size, bos_id=meta.get("get_bos_id"),
                           tokenizer_file=manifest.tokenizer)
    # every key written out, so the app (which has its own defaults) and the runner read the same run
    measured = {"eval": {"chunks": [list(chunk) for chunk in options.eval_chunks]}} if options.mode == "eval" else {
        "prompt_lengths": options.prompt_lengths, "decode_tokens": options.decode_tokens, "repeats": options.repeats,
        "warmup": options.warmup}
    heat = {key: value for key, value in (("sustained_s", options.sustained_s), ("cooldown", options.cooldown),
                                           ("cpus", cpus)) if value}
    config = RunConfig.from_json({
        **RunConfig().to_json(), "artifact": artifact.to_json(), "mode": options.mode, **measured,
        "threads": options.threads, "sample_interval_ms": options.sample_interval_ms,
        "memory_sampling": options.memory_sampling, "ops": options.ops, "seed": 0, "trace_file": TRACE_FILE, **heat})
    if options.mode == "eval":
        return config
    if options.mode == "llm_runner" and not manifest.tokenizer:
        raise BadInput(
            "the llm_runner mode needs a tokenizer and this artifact has none (random-weight card or a folder without one)",
            "use {mode} steps, or export from a source that has a tokenizer",
        )
    longest = config.longest_sequence
    if longest > manifest.max_seq_len:
        raise BadInput(
            f"prompt length {max(options.prompt_lengths)} + {options.decode_tokens} decode tokens = {longest} exceeds the "
            f"artifact's max sequence length {manifest.max_seq_len}",
            f"use shorter {{prompt_lengths}}/{{decode_tokens}} or re-export with {{max_seq_len}} {longest} or more",
        )
    return config


def artifact_facts(folder: Path, manifest: Manifest, engine: str | None = None) -> ArtifactFacts:
    """What reports and `recommend` need to know of the artifact: what it is, what it should cost in
    memory, and how close to the reference it ran (verify.json, when `slm-edge verify` was run)."""
    verified = None
    if (folder / VERIFY_FILE).is_file():
        try:
            figures = json.loads((folder / VERIFY_FILE).read_text())
            verified = {k: figures.get(k) for k in ("engine", "greedy_agreement", "teacher_forced_top1_agreement",
                                                    "mean_kl", "steps")}
        except (json.JSONDecodeError, AttributeError):
            verified = None  # a damaged verify.json: the run still reports, without quality figures
    return ArtifactFacts(name=manifest.source.name, backend=manifest.backend, scheme=manifest.quantization.scheme,
                         parameters=manifest.architecture.parameters, model_bytes=manifest.model_bytes,
                         max_seq_len=manifest.max_seq_len, predicted_memory=freeze(manifest.predicted_memory.to_json()),
                         verify=freeze(verified), quality=freeze(latest_summary(folder, engine)),
                         full_logits=True if manifest.runtime.full_logits else None,
                         architecture=freeze(manifest.architecture.to_json()), provenance=freeze(provenance(manifest)))


def provenance(manifest: Manifest) -> dict:
    """The manifest's account of what was built, as reports show it (no hashes but the source's)."""
    document = manifest.to_json()
    return {"source": document["source"], "export_path": document.get("export_path"),
            "export_path_reason": document.get("export_path_reason"), "quantization": document["quantization"],
            "files": {name: entry["bytes"] for name, entry in document["files"].items()},
            "versions": document.get("versions"), "created_utc": document.get("created_utc"),
            "export_seconds": (document.get("export") or {}).get("wall_seconds"), "cache_key": document.get("cache_key")}


def push_artifact(device: Device, folder: Path, manifest: Manifest, remote_dir: str) -> dict:
    """Push every artifact file, skipping those the device already has with the same hash."""
    pushed = {}
    hashes = {name: entry.sha256 for name, entry in manifest.files.items()}
    hashes[MANIFEST] = cache.sha256_file(folder / MANIFEST)
    for name, sha256 in hashes.items():
        pushed[name] = device.push(folder / name, f"{remote_dir}/{name}", sha256)
    return pushed


def profile_artifact(artifact: Path, device: Device, options: ProfileOptions, run_dir: Path) -> ProfileOutcome:
    """Push, run, pull and report, holding the device's lock so two profiles never interleave."""
    with device_lock(device.serial, options.lock_wait_s):
        return _profile_locked(Path(artifact), device, options, Path(run_dir))


def _profile_locked(artifact: Path, device: Device, options: ProfileOptions, run_dir: Path) -> ProfileOutcome:
    trace, result, log_tail = run_on_device(artifact, device, options, run_dir)
    run = loaded(run_dir.name, trace, run_dir)
    write_reports(run_dir, [run])
    if trace.status != "complete" or result.returncode != 0:
        measured = len(trace.measured_runs)
        problem = "; ".join(e["message"] for e in trace.errors) or result.problem or _last_line(log_tail)
        raise RuntimeFailure(
            f"profile {trace.status}: {problem} ({measured} measured repeats kept in {run_dir}, marked {trace.status})",
            f"see {run_dir / 'runner.log'} and fix the cause, then profile again",
        )
    return ProfileOutcome(run_dir=run_dir, trace=trace, analysis=run.analysis)


def run_on_device(artifact: Path, device: Device, options: ProfileOptions, run_dir: Path):
    """Push, run and pull (the caller holds the device's lock): the trace as the host finished it,
    the device's run result and the log's tail. Raises when no trace came back."""
    manifest = Manifest.read(artifact)
    manifest.check_files(artifact)
    manifest_sha = cache.sha256_file(artifact / MANIFEST)
    remote_artifact = f"slm-edge/artifacts/{manifest_sha[:16]}"
    run_id = time.strftime("%Y%m%d-%H%M%S") + f"-{time.perf_counter_ns() % 10**6:06d}"
    remote_run = f"slm-edge/runs/{run_id}"
    device_info = device.info()
    cpus = resolve_cpus(options.cpus, device_info) if options.cpus else None
    config = build_config(manifest, manifest_sha, f"../../artifacts/{manifest_sha[:16]}", options, cpus)
    device.check_can_run(manifest, config)  # before anything is pushed
    if getattr(device, "runs_app", True) and config.cpus:
        raise BadInput("{cpus} pins the Linux runner's threads; the profiler app cannot (Java has no affinity call)",
                       "drop {cpus} on a phone, or profile with {emulated} ({runner} python) or on a Linux board")

    run_dir.mkdir(parents=True, exist_ok=True)
    cache.atomic_write_text(run_dir / RUN_CONFIG_FILE, json.dumps(config.to_json(), indent=2) + "\n")
    pushed = push_artifact(device, artifact, manifest, remote_artifact)
    result = None
    try:  # from here on the run's files on the device are removed however it ends (unless --keep)
        device.push(run_dir / RUN_CONFIG_FILE, f"{remote_run}/{RUN_CONFIG_FILE}", cache.sha256_file(run_dir / RUN_CONFIG_FILE))
        result = device.run_profile(f"{remote_run}/{RUN_CONFIG_FILE}", options.timeout_s)
        log_tail = "\n".join(result.log.splitlines()[-LOG_TAIL_LINES:])
        cache.atomic_write_text(run_dir / "runner.log", result.log)
        for name, text in result.logs.items():
            cache.atomic_write_text(local_path_for(run_dir, name), text)
        trace_remote = result.trace_path or f"{remote_run}/{TRACE_FILE}"
        have_trace = device.pull(trace_remote, run_dir / TRACE_FILE, result.trace_sha256)
        device_files = []
        if result.outputs_dir:  # the app's other outputs (ETDump, ORT profile), names sanitized
            device_files = device.pull_folder(result.outputs_dir, run_dir / "device-files", skip=(TRACE_FILE,))
    finally:
        if not options.keep:
            _remove_run_files(device, remote_run, result.outputs_dir if result else None)
    if result.refusal:  # the device's answer was refused (logs kept, device files removed): its own message
        raise result.refusal
    if not have_trace:
        reason = "timed out" if result.timed_out else f"exited with code {result.returncode}"
        detail = result.problem or f"last log line: {_last_line(log_tail)}"
        raise RuntimeFailure(
            f"no trace came back from the device (the runner {reason}); {detail}",
            f"see {run_dir / 'runner.log'}",
        )
    trace = Trace.load(run_dir / TRACE_FILE)
    if trace.status == "running":  # the runner died (timeout, kill, crash) between two flushes
        message = (f"no result within {options.timeout_s:.0f} s" if result.timed_out
                   else f"runner ended without finishing (exit code {result.returncode}): "
                        f"{result.problem or _last_line(log_tail)}")
        trace = trace.replace(status="incomplete" if trace.has_measurements else "failed", errors=trace.errors + (
            {"phase": "timeout" if result.timed_out else "crash", "message": message, "run": None},))
    trace = trace.replace(host=HostSection(
        device=freeze(device_info), pushed=freeze(pushed), runner_returncode=result.returncode,
        timed_out=result.timed_out, artifact=artifact_facts(artifact, manifest, config.artifact.engine), context_samples=freeze(result.host_samples),
        transfer=freeze(result.transfer), device_files=freeze(device_files)))
    cache.atomic_write_text(run_dir / TRACE_FILE, json.dumps(trace.to_json()))
    return trace, result, log_tail


def _remove_run_files(device: Device, *remotes: str | None) -> None:
    """Best effort: a failure here must not hide why the profile failed."""
    for remote in remotes:
        if remote:
            try:
                device.remove(remote)
            except (SlmEdgeError, OSError):
                pass


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else "(no output)"
