"""`slm-edge profile`: an artifact on the emulated device or a phone → a run folder of reports."""

from __future__ import annotations

from pathlib import Path

import click

from slm_edge.cli.output import console, int_list, results
from slm_edge.errors import BadInput
from slm_edge.runtime.engines import ENGINES


@click.command()
@click.argument("artifact", type=click.Path(path_type=Path))
@click.option("--emulated", is_flag=True, help="Run on the emulated device (this machine, separate process).")
@click.option("--device", "serial", help="adb serial of a phone or board running the profiler app (see `slm-edge devices`).")
@click.option("--prompt-lengths", default="32,128,512", show_default=True, help="Prompt lengths to prefill.")
@click.option("--decode-tokens", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--repeats", type=click.IntRange(min=1), default=5, show_default=True)
@click.option("--warmup", type=click.IntRange(min=0), default=1, show_default=True)
@click.option("--threads", default="2", show_default=True, help="Thread counts, comma-separated.")
@click.option("--sample-interval-ms", type=click.FloatRange(min=1), default=50.0, show_default=True,
              help="Memory sampling interval (phase boundaries are always sampled).")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=1), default=3600.0, show_default=True,
              help="Seconds before the device-side run is abandoned (what it measured is kept).")
@click.option("--out", type=click.Path(path_type=Path), help="Run folder [default: runs/ARTIFACT-TIMESTAMP].")
@click.option("--keep", is_flag=True, help="Keep the run's files on the device.")
@click.option("--lock-wait", "lock_wait_s", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Seconds to wait for another profile on the same device to finish (0: refuse at once).")
@click.option("--engine", type=click.Choice(ENGINES), default=None,
              help="Runtime on the device [default: the artifact's first engine; onnxruntime = our KV-cache loop].")
@click.option("--ops", is_flag=True, help="Also break latency down by op category (onnxruntime engine), in separate traced runs.")
@click.option("--mode", type=click.Choice(["steps", "llm-runner"]), default="steps", show_default=True,
              help="steps: our prefill/decode loop, every step timed; llm-runner: executorch's TextLLMRunner end to end.")
@click.option("--runner", type=click.Choice(["python", "app"]), default="python", show_default=True,
              help="With --emulated, what runs the loop: python = the Linux runner (every engine, no JDK needed); "
                   "app = the profiler app's own Java code on this machine's JVM (ONNX artifacts, the code a phone runs).")
def profile(artifact, emulated, serial, prompt_lengths, decode_tokens, repeats, warmup, threads, sample_interval_ms,
            timeout_s, out, keep, lock_wait_s, ops, engine, mode, runner):
    """Profile ARTIFACT: prefill and decode latency, TTFT, memory; writes a run folder of reports."""
    import time

    from slm_edge.device.local import LocalDevice
    from slm_edge.workflows.profile import ProfileOptions, profile_artifact
    from slm_edge.report import headline_table, terminal_table

    if serial and emulated:
        raise BadInput("both --emulated and --device given", "choose one: --emulated (this machine) or --device SERIAL")
    if not emulated and not serial:
        raise BadInput("no device chosen", "pass --emulated (this machine) or --device SERIAL")
    if serial and runner != "python":
        raise BadInput("--runner chooses what runs on the emulated device; on a phone the profiler app always runs",
                           "drop --runner, or use it with --emulated")
    options = ProfileOptions(prompt_lengths=int_list(prompt_lengths, "--prompt-lengths"), decode_tokens=decode_tokens,
                             repeats=repeats, warmup=warmup, threads=int_list(threads, "--threads"),
                             sample_interval_ms=sample_interval_ms, timeout_s=timeout_s, keep=keep,
                             mode=mode.replace("-", "_"), engine=engine, ops=ops, lock_wait_s=lock_wait_s)
    out = out or Path("runs") / f"{Path(artifact).resolve().name}-{time.strftime('%Y%m%d-%H%M%S')}"
    if serial:
        from slm_edge.device.adb import open_device

        device = open_device(serial)
    else:
        device = LocalDevice(runner=runner)
    with console.status(f"profiling {artifact} on {'the emulated device' if emulated else serial}…"):
        outcome = profile_artifact(artifact, device, options, out)
    results.print(terminal_table([outcome.run]))
    results.print(headline_table([outcome.run]))
    for warning in outcome.analysis.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}")
    console.print(f"reports in {out}: report.md, report.html, report.json, report.csv, perfetto.json")
