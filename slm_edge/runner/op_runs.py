"""The traced runs of `profile --ops`, apart from the timed ones (tracing costs time): onnxruntime's
profiler or ExecuTorch's ETDump over one prefill and its decode steps, op time grouped by category."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from slm_edge.errors import BadInput, RuntimeFailure
from slm_edge.progress import reset_peak_rss
from slm_edge.records.manifest import Manifest
from slm_edge.records.trace import RunConfig
from slm_edge.runner.samplers import Sampler
from slm_edge.runner.steps import decode, prefill, prompt_for


ET_OPS_WARMUP_STEPS = 2  # a prefill and steps before the traced ones, left out: the first run pays one-time costs


def _end_op_window(sampler: Sampler) -> None:
    """Close the ops window with the process's VmHWM set back to its RSS, so the peak of later timed
    runs is theirs and not the traced session's (a second copy of the model, profiler buffers). The freed
    heap goes back to the system first (glibc's malloc_trim), else the reset starts from RSS it still holds."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass  # not glibc: the peak after the window may include what the allocator kept
    reset_peak_rss()
    sampler.mark("ops", "end")


def op_profile(config: RunConfig, base: Path, manifest: Manifest, threads: int, sampler: Sampler,
                trace_dir: Path | None = None) -> dict:
    """Separate from the timed runs (tracing costs time): one prefill of the longest prompt and the
    decode steps with the engine's own tracer on (onnxruntime's profiler, ExecuTorch's ETDump);
    op time grouped by category."""
    if config.artifact.engine == "executorch":
        return _et_op_profile(config, base, manifest, threads, sampler, trace_dir or base)
    from slm_edge.runner.ops import node_scopes, parse_profile, summarize_phases
    from slm_edge.runtime.onnx_llm import OrtLlm

    folder = base / config.artifact.dir
    prefix = str(base / f"ort-profile-t{threads}")
    # the window covers the traced session's load too: the reports' peak memory leaves it out
    sampler.mark("ops", "start")
    llm = OrtLlm(folder, manifest, threads=threads, profile_prefix=prefix)
    prompt = prompt_for(max(config.prompt_lengths), config.artifact.vocab_size, config.seed)
    token, _, _ = prefill(llm, prompt)
    steps_us = decode(llm, token, len(prompt), config.decode_tokens)
    profile_path = llm.session.end_profiling()
    llm = None
    runs = parse_profile(Path(profile_path), node_scopes(folder / config.artifact.model_file))
    Path(profile_path).unlink(missing_ok=True)
    _end_op_window(sampler)  # after reading the profile, which holds the graph and the profile's JSON
    return {"engine": "onnxruntime", "threads": threads, "prompt_length": len(prompt),
            "decode_step_us_traced": steps_us, "phases": summarize_phases(runs)}


def _et_op_profile(config: RunConfig, base: Path, manifest: Manifest, threads: int, sampler: Sampler,
                   out_dir: Path) -> dict:
    """The program loaded with ETDump tracing; a warm-up prefill and steps, then the traced prefill and
    decode steps; the ETDump is written beside the trace and read with executorch's Inspector against
    the artifact's ETRecord (which maps each event to graph nodes and their module paths)."""
    import subprocess

    from slm_edge.contract import ETRECORD_FILE
    from slm_edge.runtime.executorch_llm import EtLlm, forward_chunks

    folder = base / config.artifact.dir
    etrecord = folder / ETRECORD_FILE
    if not etrecord.is_file():
        raise BadInput(f"the artifact has no {ETRECORD_FILE} (exported before {{ops}} knew ExecuTorch), so "
                       "ETDump events cannot be mapped to the model's layers",
                       "re-export it (`slm-edge export` with {force}), then profile with {ops} again")
    sampler.mark("ops", "start")  # from the traced program's load: the reports' peak memory leaves it out
    llm = EtLlm(folder / config.artifact.model_file, threads=threads, etdump=True)
    prompt = prompt_for(max(config.prompt_lengths), config.artifact.vocab_size, config.seed)
    token, _, _ = prefill(llm, prompt)
    decode(llm, token, len(prompt), ET_OPS_WARMUP_STEPS)
    token, _, _ = prefill(llm, prompt)
    steps_us = decode(llm, token, len(prompt), config.decode_tokens)
    etdump = llm.write_etdump(out_dir / f"etdump-t{threads}.etdp")
    max_chunk = llm.max_chunk
    llm = None
    # a child process: the Inspector's imports and the deserialized graph stay out of this process's peak RSS
    # a ring program (hybrid.py) takes at most its chunk a forward: each prefill is that many executions
    forwards = len(forward_chunks(len(prompt), max_chunk))
    done = subprocess.run([sys.executable, "-m", "slm_edge.runner.ops", str(etdump), str(etrecord),
                           "--skip", str(forwards + ET_OPS_WARMUP_STEPS), "--prefill-executions", str(forwards)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeFailure(f"reading the ETDump with executorch's Inspector failed: {last}",
                             f"check that {ETRECORD_FILE} belongs to this model.pte (re-export with {{force}})")
    _end_op_window(sampler)
    return {"engine": "executorch", "threads": threads, "prompt_length": len(prompt),
            "decode_step_us_traced": steps_us, "etdump_file": etdump.name,
            "warmup_executions": forwards + ET_OPS_WARMUP_STEPS, "phases": json.loads(done.stdout)}
