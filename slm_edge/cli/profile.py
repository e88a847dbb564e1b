"""`slm-edge profile`: an artifact on the emulated device or a phone → a run folder of reports."""

from __future__ import annotations

from pathlib import Path

import click

from slm_edge.cli.output import console, int_list, results
from slm_edge.errors import BadInput
from slm_edge.runtime.engines import ENGINES

DETACHED_UNPLUG_WAIT_S = 600.0  # time to walk to the phone and unplug it
UNPLUG_SETTLE_S = 10.0  # after unplugging: the cable's last touch, the phone put down


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
@click.option("--sustained", type=click.FloatRange(min=1), default=None, metavar="SECONDS",
              help="Decode without a pause for SECONDS (the first prompt length, re-prefilled when the context fills; "
                   "the first thread count) and report throughput, temperature and frequency over time.")
@click.option("--cooldown", is_flag=True, help="Before each measured repeat, wait until the device is cool again "
              "(thermal status 0 and the temperature back near the start's, or at --cooldown-temp).")
@click.option("--cooldown-temp", type=float, default=None, metavar="CELSIUS",
              help="With --cooldown: cool means at or below this temperature.")
@click.option("--cooldown-within", type=click.FloatRange(min=0), default=None, metavar="CELSIUS",
              help="With --cooldown: cool means within this many °C of the temperature at the start [default: 2].")
@click.option("--cooldown-max-wait", type=click.FloatRange(min=0), default=300.0, show_default=True, metavar="SECONDS",
              help="With --cooldown: the longest wait before a repeat (recorded as timed out).")
@click.option("--cpus", default=None, metavar="LIST|MASK|big|mid|little",
              help="Pin the run to these cores: 0,1 or 0-3, a hex mask (0xf0), or a cluster by maximum frequency.")
@click.option("--detach", is_flag=True,
              help="Start the run and return at once: unplug the phone, and `slm-edge collect RUN_DIR` later pulls "
                   "the trace and writes the reports (energy figures need the phone on battery).")
@click.option("--unplug-wait", type=click.FloatRange(min=0), default=None, metavar="SECONDS",
              help="Before loading the model, wait up to SECONDS for the device to run on battery, then 10 s more "
                   "[default with --detach: 600; 0: do not wait].")
def profile(artifact, emulated, serial, prompt_lengths, decode_tokens, repeats, warmup, threads, sample_interval_ms,
            timeout_s, out, keep, lock_wait_s, ops, engine, mode, runner, sustained, cooldown, cooldown_temp,
            cooldown_within, cooldown_max_wait, cpus, detach, unplug_wait):
    """Profile ARTIFACT: prefill and decode latency, TTFT, memory; writes a run folder of reports."""
    import time

    from slm_edge.device.local import LocalDevice
    from slm_edge.workflows.profile import ProfileOptions, profile_artifact

    if serial and emulated:
        raise BadInput("both --emulated and --device given", "choose one: --emulated (this machine) or --device SERIAL")
    if not emulated and not serial:
        raise BadInput("no device chosen", "pass --emulated (this machine) or --device SERIAL")
    if serial and runner != "python":
        raise BadInput("--runner chooses what runs on the emulated device; on a phone the profiler app always runs",
                           "drop --runner, or use it with --emulated")
    if (cooldown_temp is not None or cooldown_within is not None) and not cooldown:
        raise BadInput("--cooldown-temp/--cooldown-within given without --cooldown", "add --cooldown")
    if sustained and (mode != "steps" or ops):
        raise BadInput("--sustained runs its own decode loop; it does not combine with --mode llm-runner or --ops",
                       "drop --mode/--ops, or profile them in a separate run")
    if unplug_wait is None:
        unplug_wait = DETACHED_UNPLUG_WAIT_S if detach else 0.0
    if unplug_wait and serial and not detach and ":" not in serial:
        # unplugging ends the USB connection `am instrument -w` streams over, and with it this command
        raise BadInput("--unplug-wait without --detach on a phone connected over USB: unplugging it drops the "
                       "connection the profile reports over", "add --detach (then `slm-edge collect`), or "
                       "connect adb over Wi-Fi (adb tcpip 5555; adb connect PHONE-IP:5555)")
    gate = None
    if cooldown:
        gate = {"max_wait_s": cooldown_max_wait, "temp_c": cooldown_temp,
                "within_c": cooldown_within if cooldown_within is not None or cooldown_temp is not None else 2.0}
    options = ProfileOptions(prompt_lengths=int_list(prompt_lengths, "--prompt-lengths"), decode_tokens=decode_tokens,
                             repeats=repeats, warmup=warmup, threads=int_list(threads, "--threads"),
                             sample_interval_ms=sample_interval_ms, timeout_s=timeout_s, keep=keep,
                             mode="sustained" if sustained else mode.replace("-", "_"), engine=engine, ops=ops,
                             lock_wait_s=lock_wait_s, sustained_s=sustained, cooldown=gate, cpus=cpus,
                             unplug_wait={"max_wait_s": unplug_wait, "settle_s": UNPLUG_SETTLE_S} if unplug_wait else None)
    out = out or Path("runs") / f"{Path(artifact).resolve().name}-{time.strftime('%Y%m%d-%H%M%S')}"
    if serial:
        from slm_edge.device.adb import open_device

        device = open_device(serial)
    else:
        device = LocalDevice(runner=runner)
    if detach:
        from slm_edge.workflows.profile import start_detached

        with console.status(f"starting {artifact} on {'the emulated device' if emulated else serial}…"):
            start_detached(artifact, device, options, out)
        wait_words = (f"it waits up to {unplug_wait:.0f} s for the device to run on battery, then starts. "
                      if unplug_wait else "")
        console.print(f"started detached on {device.serial}: {wait_words}Unplug it now if you measure energy.")
        results.print(f"slm-edge collect {out}")
        return
    with console.status(f"profiling {artifact} on {'the emulated device' if emulated else serial}…"):
        outcome = profile_artifact(artifact, device, options, out)
    _print_outcome(outcome, out)


def _print_outcome(outcome, out: Path) -> None:
    from slm_edge.report import headline_table, terminal_table

    results.print(terminal_table([outcome.run]))
    results.print(headline_table([outcome.run]))
    for warning in outcome.analysis.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}")
    console.print(f"reports in {out}: report.md, report.html, report.json, report.csv, perfetto.json")


@click.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--wait", "wait_s", type=click.FloatRange(min=0), default=0.0, show_default=True, metavar="SECONDS",
              help="Wait up to SECONDS for the run to finish (0: collect only a finished run).")
@click.option("--lock-wait", "lock_wait_s", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Seconds to wait for another command on the same device to finish.")
@click.option("--stop", is_flag=True, help="End a run still going (what it measured is kept, marked incomplete).")
def collect(run_dir, wait_s, lock_wait_s, stop):
    """Collect a run started with `profile --detach`: pull its trace and write its reports."""
    from slm_edge.workflows.profile import collect_detached, read_detached

    note = read_detached(run_dir)
    reopen = note.get("device") or {}
    if reopen.get("emulated"):
        from slm_edge.device.local import LocalDevice

        device = LocalDevice(root=Path(reopen["root"]), serial=note["serial"], runner=reopen.get("runner") or "python")
    else:
        from slm_edge.device.adb import open_device

        device = open_device(note["serial"])
    with console.status(f"collecting {run_dir} from {device.serial}…"):
        outcome = collect_detached(run_dir, device, wait_s, lock_wait_s, stop)
    _print_outcome(outcome, run_dir)
