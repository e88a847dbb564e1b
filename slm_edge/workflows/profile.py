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
from slm_edge.device import Detached, Device, RunResult
from slm_edge.device.lock import device_lock
from slm_edge.device.detached import check_no_detached_run, drop_marker, write_marker
from slm_edge.device.safe_paths import local_path_for
from slm_edge.errors import BadInput, DeviceGone, RuntimeFailure, SlmEdgeError
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
    unplug_wait: dict | None = None  # a detached run waits to run on battery: {max_wait_s, settle_s, poll_s}


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
                                           ("cpus", cpus), ("unplug_wait", options.unplug_wait))
            if value}
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
            "export_seconds": (document.get("export") or {}).get("wall_seconds"), "cache_key": document.get("cache_key"),
            **({"prefill_chunk": document["runtime"]["kv_cache"]["max_chunk"]}
               if (document.get("runtime") or {}).get("kv_cache") else {})}


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
    return _reported(run_dir, trace, result, log_tail)


def _reported(run_dir: Path, trace: Trace, result: RunResult, log_tail: str) -> ProfileOutcome:
    """Write the run's reports, then fail if the run did (what it measured is kept either way)."""
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


@dataclass
class Prepared:
    """A run pushed to its device and not yet started: what starting and finishing it need."""

    config: RunConfig
    remote_run: str  # the run's folder on the device (its config is there)
    device_info: dict
    pushed: dict
    facts: ArtifactFacts

    @property
    def remote_config(self) -> str:
        return f"{self.remote_run}/{RUN_CONFIG_FILE}"


def prepare_run(artifact: Path, device: Device, options: ProfileOptions, run_dir: Path) -> Prepared:
    """Check the run against the device and push the artifact and run config (the caller holds the device's lock)."""
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
    run_dir.mkdir(parents=True, exist_ok=True)
    cache.atomic_write_text(run_dir / RUN_CONFIG_FILE, json.dumps(config.to_json(), indent=2) + "\n")
    pushed = push_artifact(device, artifact, manifest, remote_artifact)
    prepared = Prepared(config=config, remote_run=remote_run, device_info=device_info, pushed=pushed,
                        facts=artifact_facts(artifact, manifest, config.artifact.engine))
    try:
        device.push(run_dir / RUN_CONFIG_FILE, prepared.remote_config, cache.sha256_file(run_dir / RUN_CONFIG_FILE))
    except BaseException:
        if not options.keep:
            _remove_run_files(device, remote_run)
        raise
    return prepared


def run_on_device(artifact: Path, device: Device, options: ProfileOptions, run_dir: Path):
    """Push, run and pull (the caller holds the device's lock): the trace as the host finished it,
    the device's run result and the log's tail. Raises when no trace came back."""
    check_no_detached_run(device)
    prepared = prepare_run(artifact, device, options, run_dir)
    result = None
    try:
        result = device.run_profile(prepared.remote_config, options.timeout_s)
    finally:
        if result is None and not options.keep:
            _remove_run_files(device, prepared.remote_run)
    return finish_run(prepared, device, result, run_dir, options.keep, options.timeout_s)


def finish_run(prepared: Prepared, device: Device, result: RunResult, run_dir: Path, keep: bool, timeout_s: float):
    """Keep the logs, pull the trace and the run's other outputs, clean the device (unless keep), and
    complete the trace with the host's section: the trace, the run result and the log's tail."""
    try:  # the run's files on the device are removed however this ends (unless --keep)
        log_tail = "\n".join(result.log.splitlines()[-LOG_TAIL_LINES:])
        cache.atomic_write_text(run_dir / "runner.log", result.log)
        for name, text in result.logs.items():
            cache.atomic_write_text(local_path_for(run_dir, name), text)
        trace_remote = result.trace_path or f"{prepared.remote_run}/{TRACE_FILE}"
        have_trace = device.pull(trace_remote, run_dir / TRACE_FILE, result.trace_sha256)
        device_files = []
        if result.outputs_dir:  # the app's other outputs (ETDump, ORT profile), names sanitized
            device_files = device.pull_folder(result.outputs_dir, run_dir / "device-files", skip=(TRACE_FILE,))
    finally:
        if not keep:
            _remove_run_files(device, prepared.remote_run, result.outputs_dir)
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
        message = (f"no result within {timeout_s:.0f} s" if result.timed_out
                   else f"runner ended without finishing (exit code {result.returncode}): "
                        f"{result.problem or _last_line(log_tail)}")
        trace = trace.replace(status="incomplete" if trace.has_measurements else "failed", errors=trace.errors + (
            {"phase": "timeout" if result.timed_out else "crash", "message": message, "run": None},))
    trace = trace.replace(host=HostSection(
        device=freeze(prepared.device_info), pushed=freeze(prepared.pushed), runner_returncode=result.returncode,
        timed_out=result.timed_out, artifact=prepared.facts, context_samples=freeze(result.host_samples),
        transfer=freeze(result.transfer), device_files=freeze(device_files)))
    cache.atomic_write_text(run_dir / TRACE_FILE, json.dumps(trace.to_json()))
    return trace, result, log_tail


DETACHED_FILE = "detached.json"  # in the run folder: a detached run the host has not collected yet
COLLECTED_FILE = "detached-collected.json"  # what detached.json becomes once collected
COLLECT_POLL_S = 5.0


def start_detached(artifact: Path, device: Device, options: ProfileOptions, run_dir: Path) -> Path:
    """profile --detach: push and start the run, and return; `collect_detached` finishes it later.
    The run folder gets the run config and detached.json (what collecting needs, the artifact's facts
    included, so the artifact folder may be gone by then). The device's note is written, under the
    device's lock, before the app starts: nothing queued on the lock can start the app over it."""
    run_dir = Path(run_dir)
    with device_lock(device.serial, options.lock_wait_s):
        check_no_detached_run(device)
        prepared = prepare_run(Path(artifact), device, options, run_dir)
        note = {"serial": device.serial, "device": device_reopen_facts(device), "run_dir": str(run_dir.resolve()),
                "remote_run": prepared.remote_run, "detached": None, "keep": options.keep,
                "timeout_s": options.timeout_s, "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "device_info": prepared.device_info, "pushed": prepared.pushed, "artifact": prepared.facts.to_json(),
                "config": prepared.config.to_json()}
        write_marker(device.serial, note)
        try:
            note["detached"] = device.start_detached(prepared.remote_config).to_json()
            cache.atomic_write_text(run_dir / DETACHED_FILE, json.dumps(note, indent=2) + "\n")
            write_marker(device.serial, note)
        except BaseException:
            drop_marker(device.serial, note["run_dir"])
            if not options.keep:
                _remove_run_files(device, prepared.remote_run)
            raise
    return run_dir / DETACHED_FILE


def device_reopen_facts(device: Device) -> dict:
    """How `collect` opens the device again: an emulated device's storage and runner, or an adb serial."""
    root, runner = getattr(device, "root", None), getattr(device, "runner", None)
    return {"emulated": True, "root": str(root), "runner": runner} if root is not None else {"emulated": False}


def read_detached(run_dir: Path) -> dict:
    try:
        return json.loads((Path(run_dir) / DETACHED_FILE).read_text())
    except FileNotFoundError:
        done = (Path(run_dir) / COLLECTED_FILE).is_file()
        raise BadInput(f"{run_dir} holds no detached run" + (" (it was collected already)" if done else ""),
                       f"open its reports ({Path(run_dir) / 'report.html'})" if done else
                       "pass the folder `slm-edge profile --detach` printed") from None
    except ValueError:
        raise BadInput(f"{Path(run_dir) / DETACHED_FILE} is damaged", "start the run again with profile --detach") from None


def collect_detached(run_dir: Path, device: Device, wait_s: float = 0.0, lock_wait_s: float = 0.0,
                     stop: bool = False) -> ProfileOutcome:
    """Finish a detached run: when its trace is done (or its process gone), pull the trace and its
    outputs, clean the device and write the reports, as a profile would have. Still running after
    wait_s: say how far it got, and leave it be; `stop` ends it first (what it measured is kept)."""
    run_dir = Path(run_dir)
    with device_lock(device.serial, lock_wait_s):
        note = read_detached(run_dir)  # under the lock: another collect may have finished it meanwhile
        detached = Detached.from_json(note["detached"])
        deadline = time.monotonic() + wait_s
        stopped = False
        while True:
            status, progress = _detached_progress(device, detached, run_dir)
            if status not in (None, "running"):
                break
            if stop and device.detached_running(detached):
                device.stop_detached(detached)
                stopped = True
            if not device.detached_running(detached):
                # it may have finished between the two looks
                status, progress = _detached_progress(device, detached, run_dir)
                break
            if time.monotonic() >= deadline:
                raise RuntimeFailure(f"the detached run on {device.serial} is still going ({progress})",
                                     f"collect it later (slm-edge collect {run_dir}), wait for it ({{wait}} SECONDS), "
                                     "or end it (--stop)")
            time.sleep(max(0.0, min(COLLECT_POLL_S, deadline - time.monotonic())))
        finished = status not in (None, "running")
        logs = device.detached_logs(detached)
        log = logs.get("runner.log") or logs.get("logcat.txt") or ""
        problem = None if finished else ("stopped by collect --stop" if stopped
                                         else "the run's process ended without finishing its trace")
        result = RunResult(returncode=0 if finished else 1, log=log, trace_path=detached.trace_path, problem=problem,
                           logs={name: text for name, text in logs.items() if name != "runner.log"},
                           outputs_dir=detached.outputs_dir)
        prepared = Prepared(config=RunConfig.from_doc(note["config"]), remote_run=note["remote_run"],
                            device_info=note["device_info"], pushed=note["pushed"],
                            facts=ArtifactFacts.from_doc(note["artifact"]))
        def collected() -> None:  # the device's files are gone: the run cannot be collected again
            (run_dir / DETACHED_FILE).replace(run_dir / COLLECTED_FILE)
            drop_marker(device.serial, note["run_dir"])

        try:
            trace, result, log_tail = finish_run(prepared, device, result, run_dir, bool(note.get("keep")),
                                                 float(note.get("timeout_s") or 0))
        except DeviceGone:  # its files may still be there: the same command collects it once the device is back
            raise
        except BaseException:
            collected()
            raise
        collected()
    return _reported(run_dir, trace, result, log_tail)


def _detached_progress(device: Device, detached: Detached, run_dir: Path) -> tuple[str | None, str]:
    """The device's trace as it stands: its status (None: not written yet) and a few words of progress."""
    partial = run_dir / ".trace-progress.json"
    try:
        if not device.pull(detached.trace_path, partial):
            return None, "no trace written yet"
        document = json.loads(partial.read_text())
    except (SlmEdgeError, OSError, ValueError):
        return None, "its trace could not be read yet"
    finally:
        partial.unlink(missing_ok=True)
    runs = [run for run in document.get("runs") or [] if not run.get("warmup")]
    segments = len((document.get("sustained") or {}).get("segments") or [])
    waited = (document.get("unplug_wait") or {})
    markers = document.get("phase_markers") or []
    phase = markers[-1].get("phase") if markers else "setup"
    words = [f"phase {phase}", f"{len(runs)} measured repeats"] + ([f"{segments} sustained segments"] if segments else [])
    if waited.get("outcome"):
        words.append(f"unplug wait: {waited['outcome']}")
    return document.get("status"), ", ".join(words)


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
