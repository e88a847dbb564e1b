"""`slm-edge eval --device/--emulated`: the same teacher-forced scoring on the phone. The app returns,
per scored token, the log-probability of the actual next token and its argmax (not whole logits); the
host turns them into the phone's perplexity, its top-1 agreement with the desktop reference, and its
agreement with this machine's run of the same artifact, fed the same way (one token a step)."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

from slm_edge import cache
from slm_edge.contract import EVAL_FILE, MANIFEST
from slm_edge.device import Device
from slm_edge.device.detached import check_no_detached_run
from slm_edge.device.lock import device_lock
from slm_edge.errors import RuntimeFailure
from slm_edge.quality import figures, results
from slm_edge.quality.evaluate import EvalRequest, evaluate_artifact, plan_chunks
from slm_edge.records.manifest import Manifest
from slm_edge.runtime.engines import resolve_engine
from slm_edge.workflows.profile import ProfileOptions, build_config, run_on_device

DEVICE_FEED = "steps"  # what the app does on every engine


def evaluate_on_device(artifact: Path, device: Device, request: EvalRequest, run_dir: Path, *, timeout_s: float = 3600.0,
                       keep: bool = False, lock_wait_s: float = 0.0, threads: int = 2, progress=None) -> dict:
    """The host's eval entry (computed here if missing) with this device run added under device_runs."""
    artifact, run_dir = Path(artifact), Path(run_dir)
    manifest = Manifest.read(artifact)
    engine = resolve_engine(manifest, request.engine)
    request = dataclasses.replace(request, engine=engine, feed=DEVICE_FEED)
    _, chunks = plan_chunks(artifact, manifest, request)
    options = ProfileOptions(mode="eval", eval_chunks=chunks.chunks, threads=[threads], engine=engine,
                             timeout_s=timeout_s, keep=keep, lock_wait_s=lock_wait_s)
    # what the device refuses (an engine its app lacks, an app without eval) is refused before the host's run;
    # asking the app (its identity) would stop a detached run
    check_no_detached_run(device)
    device.check_can_run(manifest, build_config(manifest, cache.sha256_file(artifact / MANIFEST), ".", options))
    host = results.find(artifact, chunks, engine, DEVICE_FEED) or evaluate_artifact(artifact, request, progress)
    started = time.perf_counter()
    with device_lock(device.serial, lock_wait_s):
        trace, result, _ = run_on_device(artifact, device, options, run_dir)
    scored = list((trace.eval or {}).get("chunks", ()))
    for index, chunk in enumerate(scored):
        expected = len(chunks.chunks[index]) if index < len(chunks.chunks) else None
        if expected is None or chunk["tokens"] != expected or not (len(chunk["logprob"]) == len(chunk["argmax"])
                                                                    == expected - 1):
            raise RuntimeFailure(f"the device's trace scored chunk {index} unlike the run config asked "
                                 f"({chunk['tokens']} tokens, {len(chunk['logprob'])} scores; expected {expected})",
                                 "update the profiler app (slm-edge app install) and run the eval again")
    device_run = {"serial": device.serial, "run_dir": str(run_dir), "status": trace.status,
                  "device": trace.device.model, "emulated": bool(trace.device.emulated),
                  "producer": trace.producer.name, "chunks_scored": len(scored), "chunks": len(chunks.chunks),
                  "seconds": time.perf_counter() - started,
                  "device_ms_per_token": (sum(c["ms"] for c in scored) / max(1, sum(len(c["argmax"]) for c in scored)))}
    if scored:
        host_scores = results.unpack_scores(host["scores"])
        kept = figures.PositionScores(*(getattr(host_scores, f.name)[:len(scored)] for f in dataclasses.fields(host_scores)))
        device_run["summary"] = figures.device_summary(
            [np.asarray(c["logprob"], dtype=np.float64) for c in scored],
            [np.asarray(c["argmax"], dtype=np.int64) for c in scored], kept,
            [-a for a in kept.artifact_nll], kept.artifact_argmax, chunks.first_scored)
    results.add_device_run(artifact, host["key"], device_run)  # what was scored is kept even if the run failed
    if trace.status != "complete" or len(scored) != len(chunks.chunks):
        problem = ("; ".join(e["message"] for e in trace.errors) or result.problem
                   or ("the runner timed out" if result.timed_out else "the runner did not finish"))
        raise RuntimeFailure(f"eval on {device.serial} {trace.status}: {problem} ({len(scored)} of {len(chunks.chunks)} "
                             f"chunks scored, kept in {artifact / EVAL_FILE})", f"see {run_dir / 'runner.log'}")
    return {**host, "device_run": device_run}
