"""The commands that reproduce a run, rebuilt from what its trace recorded: the export (from the
manifest's facts the host kept) and the profile (from the run config the runner received)."""

from __future__ import annotations

import shlex

from slm_edge.analysis.loaded import LoadedRun

APP_PRODUCER = "slm-edge-profiler-app"  # AndroidPlatform.producerName(): the phone app wrote the trace


def _joined(values) -> str:
    return ",".join(str(v) for v in values)


def export_command(run: LoadedRun) -> list[str] | None:
    """`slm-edge export …` for the artifact, or None when the trace has no manifest facts (a trace
    from an older host). Settings the manifest does not record are left at their defaults."""
    facts = run.trace.artifact_facts
    provenance = (facts.provenance if facts else None) or {}
    source = provenance.get("source")
    if not source:
        return None
    model = source["name"] if source.get("kind") in ("card", "default") else source.get("origin") or source["name"]
    args = ["slm-edge", "export", model, "--backend", facts.backend, "--quant", facts.scheme]
    group = (provenance.get("quantization") or {}).get("group_size")
    if group is not None and facts.scheme not in ("fp32", "fp16"):
        args += ["--block-size" if facts.backend == "onnx" else "--group-size", str(group)]
    if facts.max_seq_len:
        args += ["--max-seq-len", str(facts.max_seq_len)]
    if provenance.get("prefill_chunk"):
        args += ["--prefill-chunk", str(provenance["prefill_chunk"])]
    if source.get("random_weights"):
        args += ["--random-weights", "--seed", str(source.get("seed") or 0)]
    return args + ["--out", f"out/{run.name}-artifact"]


def profile_command(run: LoadedRun) -> list[str]:
    """`slm-edge profile …` with the run's device, engine, prompts, decode length, repeats and threads."""
    trace, config = run.trace, run.trace.run_config
    facts = trace.artifact_facts
    artifact = f"out/{run.name}-artifact" if facts and facts.provenance else "ARTIFACT"
    serial = (trace.host.device or {}).get("serial") if trace.host else None
    args = ["slm-edge", "profile", artifact]
    args += ["--emulated"] if trace.device.emulated or serial in (None, "emulated") else ["--device", str(serial)]
    if config.mode == "llm_runner":
        args += ["--mode", "llm-runner"]
    if config.mode == "sustained" and config.sustained_s:
        args += ["--sustained", f"{config.sustained_s:g}"]
    if config.cooldown:
        args.append("--cooldown")
        for key, flag in (("temp_c", "--cooldown-temp"), ("within_c", "--cooldown-within"),
                          ("max_wait_s", "--cooldown-max-wait")):
            if config.cooldown.get(key) is not None:
                args += [flag, f"{config.cooldown[key]:g}"]
    if config.cpus:
        args += ["--cpus", _joined(config.cpus)]
    if config.unplug_wait:  # a run that waited for battery: started detached, collected afterwards
        args += ["--detach", "--unplug-wait", f"{config.unplug_wait['max_wait_s']:g}"]
    if config.prompt_lengths:
        args += ["--prompt-lengths", _joined(config.prompt_lengths)]
    if config.decode_tokens:
        args += ["--decode-tokens", str(config.decode_tokens)]
    if config.repeats:
        args += ["--repeats", str(config.repeats)]
    if config.warmup is not None:
        args += ["--warmup", str(config.warmup)]
    if config.threads:
        args += ["--threads", _joined(config.threads)]
    args += ["--sample-interval-ms", f"{config.sample_interval_ms:g}"]
    if config.artifact.engine:
        args += ["--engine", config.artifact.engine]
    if config.ops:
        args.append("--ops")
    if trace.producer.name == APP_PRODUCER and (trace.device.emulated or serial == "emulated"):
        args += ["--runner", "app"]
    return args + ["--out", f"runs/{run.name}"]


def shell(args: list[str]) -> str:
    return shlex.join(args)


PERFETTO_HOWTO = ("Open https://ui.perfetto.dev in a browser, choose “Open trace file” and pick {file}: the "
                  "timeline shows load, each prefill and every decode step as slices, and RSS as a counter "
                  "track. The file is read in the browser; nothing is uploaded.")
