"""The device-side runner for Linux: `python -m slm_edge.runner CONFIG.json`.

Does what the Android app does, writing the same trace: for each thread count, load the model;
for each prompt length, warm-up and measured repeats of one prefill forward of N tokens followed by
one-token decode steps, each timed with the monotonic clock; memory sampled on a thread and at
every phase boundary. The trace is rewritten atomically after every repeat, so a crash or a kill
keeps everything measured before it.
"""

from __future__ import annotations

import os

# Before torch loads: torch only glues here (argmax, small tensors), but its OpenMP workers
# spin-wait after each parallel op and take cores from the runtime's own threads. Measured on 2
# cores: ExecuTorch 8da4w decode 45-140 tok/s with them, ~260 without. A phone app has no torch.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from pathlib import Path  # noqa: E402

from slm_edge import __version__  # noqa: E402
from slm_edge.cache import atomic_write_text  # noqa: E402
from slm_edge.contract import STATUS_PREFIX  # noqa: E402
from slm_edge.errors import BadInput, SlmEdgeError  # noqa: E402
from slm_edge.runner.scoring import score_chunk  # noqa: E402
from slm_edge.runner.cooldown import temperature_of, wait_until_cool, wait_until_unplugged  # noqa: E402
from slm_edge.runner.op_runs import op_profile  # noqa: E402
from slm_edge.runner.steps import decode, prefill, prompt_for  # noqa: E402,F401  (decode: tests read it here)
from slm_edge.runner.samplers import Sampler, apply_cpu_mask, device_facts, read_pss, read_status_memory  # noqa: E402
from slm_edge.records.manifest import Manifest  # noqa: E402
from slm_edge.contract import TRACE_SCHEMA, TRACE_SCHEMA_VERSION  # noqa: E402
from slm_edge.records.trace import RunConfig  # noqa: E402


class TraceWriter:
    def __init__(self, path: Path, config: RunConfig, emulated: bool):
        self.path = path
        self.origin_ns = time.perf_counter_ns()
        baseline_rss, baseline_hwm = read_status_memory()
        self.trace = {
            "schema": TRACE_SCHEMA,
            "schema_version": TRACE_SCHEMA_VERSION,
            "status": "running",
            "producer": {"name": "slm_edge.runner", "version": __version__},
            "device": device_facts(emulated),
            "software": {},
            "artifact": {
                "manifest_sha256": config.artifact.manifest_sha256,
                "model_file": config.artifact.model_file,
                "engine": config.artifact.engine,
            },
            "config": config.to_json(),  # as received
            "clock": {"monotonic_origin_ns": self.origin_ns, "wall_origin_ms": time.time() * 1000},
            # The Python runtime (interpreter, torch, executorch) is loaded at this point and the
            # model is not: increases are reported over this baseline, absolute figures include it.
            "baseline_memory": {"rss_bytes": baseline_rss, "hwm_bytes": baseline_hwm, "pss_bytes": read_pss()},
            "loads": [],
            "runs": [],
            "memory_samples": [],
            "phase_markers": [],
            "cpu_samples": [],
            "errors": [],
        }

    def flush(self, sampler: Sampler, status: str | None = None) -> None:
        memory, cpu, markers = sampler.snapshot()
        self.trace.update(memory_samples=memory, cpu_samples=cpu, phase_markers=markers)
        if status:
            self.trace["status"] = status
        atomic_write_text(self.path, json.dumps(self.trace))


def software_versions() -> dict:
    from importlib import metadata

    versions = {"python": sys.version.split()[0], "omp_num_threads": os.environ.get("OMP_NUM_THREADS")}
    for package in ("executorch", "torch", "onnxruntime", "onnxruntime-genai"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return versions


def status(**fields) -> None:
    """A progress line on stdout (`slm-edge-status phase=prefill run=3`): the emulated adb device
    turns these into `am instrument` status lines, as the app's sendStatus does."""
    print(STATUS_PREFIX, " ".join(f"{k}={v}" for k, v in fields.items()), flush=True)


def run(config_path: Path, emulated: bool = False, trace_dir: Path | None = None, runner_note: str | None = None) -> int:
    config = RunConfig.load(config_path)
    # Import and initialise the runtime before the baseline is taken, so the baseline is the
    # process as it stands just before the model loads, and load time is the model's alone.
    engine = config.artifact.engine
    import torch  # noqa: F401  (argmax glue for every engine: loaded before the baseline, not counted as the model's)

    if engine == "executorch":
        from executorch.runtime import Runtime

        from slm_edge.runtime.executorch_llm import register_llm_ops

        register_llm_ops()
        Runtime.get()
    else:
        import onnxruntime  # noqa: F401

        if engine == "onnxruntime-genai":
            import onnxruntime_genai  # noqa: F401
    from slm_edge.runtime.engines import load_engine

    base = config_path.parent
    artifact = config.artifact
    # The trace goes next to the config, or where the caller says (the app's files dir on Android).
    writer = TraceWriter((trace_dir or base) / config.trace_file, config, emulated)
    sampler = Sampler(writer.origin_ns, config.sample_interval_ms, config.memory_sampling)
    trace = writer.trace
    trace["software"] = software_versions()
    if runner_note:  # why this runner ran where the device would run the app (the emulated phone's ExecuTorch runs)
        trace["software"]["runner_note"] = runner_note
    phase = "setup"
    run_index = None
    trace["software"]["cpus_allowed"] = apply_cpu_mask(list(config.cpus) if config.cpus else None)
    if config.cpus:  # the whole process (threads inherit the mask); the app pins only onnxruntime's pool
        trace["software"]["cpu_pinning"] = {"cores": trace["software"]["cpus_allowed"], "scope": "process"}
    sampler.start()
    start_temp_c = temperature_of(sampler.cpu[0]) if sampler.cpu else None

    def cooldown(run_index: int | None) -> dict | None:
        """The gate before a measured repeat, its wait marked as a phase; None when not asked for."""
        if not config.cooldown:
            return None
        status(phase="cooldown", run=run_index)
        sampler.mark("cooldown", "start", run_index)
        record = wait_until_cool(sampler.sample_cpu, config.cooldown, start_temp_c)
        sampler.mark("cooldown", "end", run_index)
        return record

    try:
        if config.unplug_wait:  # a detached run: the whole run on battery, model load included
            phase = "unplug_wait"
            status(phase=phase)
            sampler.mark("unplug_wait", "start")
            trace["unplug_wait"] = wait_until_unplugged(sampler.sample_cpu, config.unplug_wait)
            sampler.mark("unplug_wait", "end")
            writer.flush(sampler)
        if config.mode == "eval" and config.longest_sequence > artifact.max_seq_len:
            raise BadInput(f"an eval chunk of {config.longest_sequence} tokens exceeds the artifact's max sequence length "
                           f"{artifact.max_seq_len}", "use a smaller {context}")
        if config.mode == "eval" and any(not 0 <= token < artifact.vocab_size for chunk in config.eval["chunks"]
                                         for token in chunk):
            raise BadInput(f"an eval chunk holds a token outside the vocabulary (0..{artifact.vocab_size - 1})",
                           "tokenize with the artifact's own tokenizer")
        if config.mode != "eval" and config.longest_sequence > artifact.max_seq_len:
            raise BadInput(
                f"prompt {max(config.prompt_lengths)} + decode {config.decode_tokens} tokens exceed the artifact's "
                f"max sequence length {artifact.max_seq_len}", "use shorter lengths or re-export with a larger {max_seq_len}")
        model_path = (base / artifact.dir / artifact.model_file).resolve()
        # not checked against the schema again (the host did, before pushing it): the check's imports
        # and allocations would count as the model's, after the baseline
        manifest = Manifest.read(base / artifact.dir, checked=False)
        for threads in config.threads:
            if config.mode == "llm_runner":
                phase = "llm_runner"
                status(phase=phase, threads=threads)
                _llm_runner_runs(config, base, model_path, threads, sampler, writer)
                continue
            phase = "load"
            status(phase=phase, threads=threads)
            sampler.mark("load", "start")
            start = time.perf_counter_ns()
            llm = load_engine(base / artifact.dir, manifest, engine, threads=threads)
            load_ms = (time.perf_counter_ns() - start) / 1e6
            sampler.mark("load", "end")
            trace["loads"].append({"threads": threads, "load_ms": load_ms, "rss_after_bytes": read_status_memory()[0]})
            if config.mode == "eval":
                phase = "eval"
                trace["eval"] = {"threads": threads, "chunks": []}
                for index, chunk in enumerate(config.eval["chunks"]):
                    status(phase=phase, chunk=index, threads=threads)
                    sampler.mark("eval", "start", index)
                    trace["eval"]["chunks"].append(score_chunk(llm, list(chunk)))
                    sampler.mark("eval", "end", index)
                    writer.flush(sampler)
                continue
            if config.mode == "sustained":
                phase = "sustained"
                _sustained(llm, config, threads, sampler, writer, cooldown(None))
                break  # one thread count: the first
            for prompt_length in config.prompt_lengths:
                prompt = prompt_for(prompt_length, artifact.vocab_size, config.seed)
                for index in range(config.warmup + config.repeats):
                    warmup = index < config.warmup
                    run_index = len(trace["runs"])
                    gate = None if warmup else cooldown(run_index)
                    phase = "prefill"
                    status(phase="warmup" if warmup else "run", run=run_index, threads=threads, prompt=prompt_length)
                    record = _one_run(llm, sampler, prompt, config.decode_tokens, run_index)
                    record.update(threads=threads, prompt_length=prompt_length, warmup=warmup,
                                  repeat=index if warmup else index - config.warmup)
                    if gate is not None:
                        record["cooldown"] = gate
                    trace["runs"].append(record)
                    writer.flush(sampler)
            llm = None
            if config.ops:
                phase = "ops"
                status(phase=phase, threads=threads)
                trace.setdefault("op_profiles", []).append(
                    op_profile(config, base, manifest, threads, sampler, writer.path.parent))
                writer.flush(sampler)
        sampler.stop()
        writer.flush(sampler, "complete")
        return 0
    except BaseException as exc:  # anything, even a KeyboardInterrupt: keep what was measured
        # the trace is read through slm-edge's CLI and reports, so its settings are written as the CLI's flags
        message = exc.one_line(cli=True) if isinstance(exc, SlmEdgeError) else f"{type(exc).__name__}: {exc}"
        trace["errors"].append({"phase": phase, "message": message, "run": run_index})
        sampler.stop()
        measured = trace["runs"] or trace.get("eval", {}).get("chunks") or trace.get("sustained", {}).get("segments")
        writer.flush(sampler, "incomplete" if measured else "failed")
        if not isinstance(exc, SlmEdgeError):
            traceback.print_exc()
        print(f"runner error in {phase}: {message}", file=sys.stderr)
        return 1


def _one_run(llm, sampler: Sampler, prompt: list[int], decode_tokens: int, run_index: int) -> dict:
    start_ms = sampler.now_ms()
    sampler.mark("prefill", "start", run_index)
    token, prefill_ms, ttft_ms = prefill(llm, prompt)
    sampler.mark("prefill", "end", run_index)
    rss_after_prefill = read_status_memory()[0]
    sampler.mark("decode", "start", run_index)
    steps_us = decode(llm, token, len(prompt), decode_tokens)
    sampler.mark("decode", "end", run_index)
    rss_end, hwm_end = read_status_memory()
    return {
        "start_ms": start_ms,
        "prefill_ms": prefill_ms,
        "ttft_ms": ttft_ms,
        "decode_step_us": steps_us,
        "memory": {"rss_after_prefill_bytes": rss_after_prefill, "rss_end_bytes": rss_end, "hwm_end_bytes": hwm_end,
                   "pss_end_bytes": sampler.memory[-1].get("pss_bytes") if sampler.memory else None},
    }


SUSTAINED_FLUSH_S = 5.0  # how often a sustained run rewrites its trace (a kill keeps all but the last seconds)


def _sustained(llm, config: RunConfig, threads: int, sampler: Sampler, writer: TraceWriter, gate: dict | None) -> None:
    """Decode without a pause for sustained_s seconds: the first prompt length prefilled, one-token steps
    until the context is full, then the same prompt again (a segment each), every step timed."""
    prompt_length = config.prompt_lengths[0]
    prompt = prompt_for(prompt_length, config.artifact.vocab_size, config.seed)
    section = {"threads": threads, "prompt_length": prompt_length, "seconds": float(config.sustained_s), "segments": []}
    if gate is not None:
        section["cooldown"] = gate
    writer.trace["sustained"] = section
    deadline = time.perf_counter() + float(config.sustained_s)
    last_flush = time.perf_counter()
    import torch

    # one phase marker pair for the whole run: per segment they would cost a small model more than its
    # steps (a PSS read each); each segment's own times place its prefill and decode
    status(phase="sustained", seconds=config.sustained_s)
    sampler.mark("sustained", "start")
    while time.perf_counter() < deadline:
        segment = {"start_ms": sampler.now_ms()}
        token, segment["prefill_ms"], _ = prefill(llm, prompt)
        steps = segment["decode_step_us"] = []
        section["segments"].append(segment)
        position = len(prompt)
        while position < config.artifact.max_seq_len - 1 and time.perf_counter() < deadline:
            s0 = time.perf_counter_ns()
            logits = llm.step([token], position)
            token = int(torch.argmax(logits))
            steps.append((time.perf_counter_ns() - s0) / 1e3)
            position += 1
        if time.perf_counter() - last_flush > SUSTAINED_FLUSH_S:
            writer.flush(sampler)
            last_flush = time.perf_counter()
    sampler.mark("sustained", "end")
    writer.flush(sampler)


def llm_runner_seq_len(prompt_length: int, decode_tokens: int, max_seq_len: int) -> int:
    """The one sequence length both runners give TextLLMRunner for a config (mode llm_runner).

    The app's LlmModule.generate can pass only seqLen: its JNI builds GenerationConfig{echo, seq_len,
    temperature, num_bos, num_eos} and never max_new_tokens (executorch
    extension/android/jni/jni_layer_llama.cpp). So this runner sets the same seq_len and leaves
    max_new_tokens unset (-1): GenerationConfig.resolve_max_new_tokens (extension/llm/runner/irunner.h)
    then gives both min(seq_len, max_context_len) - the prompt's tokens, emitted as prefill's first
    token plus one decode step each (text_llm_runner.cpp). android_app's LlmRunnerRuns.seqLen is the
    same rule; the tests share their cases.
    """
    return min(max_seq_len, prompt_length + decode_tokens)


def llm_runner_generation_config(prompt_length: int, decode_tokens: int, max_seq_len: int):
    """Greedy, no echo, seq_len as the app sets it, max_new_tokens left to the runner (see above)."""
    from executorch.extension.llm.runner import GenerationConfig

    return GenerationConfig(echo=False, temperature=0.0,
                            seq_len=llm_runner_seq_len(prompt_length, decode_tokens, max_seq_len))


def _llm_runner_runs(config: RunConfig, base: Path, model_path: Path, threads: int, sampler: Sampler,
                     writer: TraceWriter) -> None:
    """End to end through executorch's TextLLMRunner: text in, tokens out, its own stats JSON.

    Its stats have millisecond resolution; per-token times come from our token callback's
    monotonic timestamps (its generated_tokens counts the tokens after prefill's first one). It
    stops at EOS, so the decode length can be shorter than asked.
    """
    from executorch.extension.llm.runner import GenerationConfig, TextLLMRunner

    from slm_edge.runtime.executorch_llm import set_threads

    trace = writer.trace
    artifact = config.artifact
    tokenizer = (base / artifact.dir / artifact.tokenizer_file).resolve()
    set_threads(threads)
    sampler.mark("load", "start")
    start = time.perf_counter_ns()
    runner = TextLLMRunner(str(model_path), str(tokenizer))
    constructed_ms = (time.perf_counter_ns() - start) / 1e6
    # The runner loads the program lazily on its first generate: force that here with one token,
    # so no measured run pays for it. Its stats give the program-load part (millisecond resolution).
    first_stats: list[str] = []
    runner.generate("hello", GenerationConfig(echo=False, max_new_tokens=1, temperature=0.0,
                                              seq_len=artifact.max_seq_len),
                    stats_callback=lambda s: first_stats.append(s.to_json_string()))
    sampler.mark("load", "end")
    first = json.loads(first_stats[-1]) if first_stats else {}
    program_load_ms = first.get("model_load_end_ms", 0) - first.get("model_load_start_ms", 0)
    trace["loads"].append({"threads": threads, "load_ms": constructed_ms + program_load_ms,
                           "rss_after_bytes": read_status_memory()[0]})
    for prompt_length in config.prompt_lengths:
        # ~1 token per repeated word; the runner's stats say how many tokens the prompt really was
        text = " ".join(["hello"] * max(prompt_length - 1, 1))
        generation = llm_runner_generation_config(prompt_length, config.decode_tokens, artifact.max_seq_len)
        for index in range(config.warmup + config.repeats):
            warmup = index < config.warmup
            run_index = len(trace["runs"])
            stamps: list[int] = []
            stats: list[str] = []
            runner.reset()
            sampler.mark("generate", "start", run_index)
            t0 = time.perf_counter_ns()
            runner.generate(
                text,
                generation,
                token_callback=lambda _piece: stamps.append(time.perf_counter_ns()),
                stats_callback=lambda s: stats.append(s.to_json_string()),
            )
            sampler.mark("generate", "end", run_index)
            report = json.loads(stats[-1]) if stats else {}
            rss_end, hwm_end = read_status_memory()
            trace["runs"].append({
                "threads": threads, "prompt_length": prompt_length, "warmup": warmup,
                "repeat": index if warmup else index - config.warmup,
                "start_ms": (t0 - sampler.origin_ns) / 1e6,
                "prompt_tokens_actual": int(report.get("prompt_tokens", 0)),
                # The first token comes out of prefill, so time-to-first-token on our clock is the
                # prefill time (plus tokenizing); the stats' own figure is whole milliseconds.
                "prefill_ms": (stamps[0] - t0) / 1e6 if stamps else 0.0,
                "ttft_ms": (stamps[0] - t0) / 1e6 if stamps else 0.0,
                "decode_step_us": [(b - a) / 1e3 for a, b in zip(stamps, stamps[1:])],
                "memory": {"rss_after_prefill_bytes": rss_end, "rss_end_bytes": rss_end, "hwm_end_bytes": hwm_end,
                           "pss_end_bytes": None},
                "llm_runner_seq_len": generation.seq_len,
                "llm_runner_stats": report,
            })
            writer.flush(sampler)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m slm_edge.runner")
    parser.add_argument("config", type=Path)
    parser.add_argument("--emulated", action="store_true")
    parser.add_argument("--trace-dir", type=Path, default=None, help="write the trace here (default: next to the config)")
    parser.add_argument("--runner-note", default=None, help="recorded in the trace's software block")
    args = parser.parse_args(argv)
    try:
        return run(args.config, emulated=args.emulated, trace_dir=args.trace_dir, runner_note=args.runner_note)
    except SlmEdgeError as err:  # a config that never got as far as a trace
        print(f"error: {err.one_line()}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
