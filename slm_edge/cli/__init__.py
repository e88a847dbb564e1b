"""The `slm-edge` command line."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from slm_edge import __version__
from slm_edge.runtime.engines import ENGINES
from slm_edge.errors import SlmEdgeError
from slm_edge.progress import console

# Tables go to stdout (full width when piped to a file), progress and errors to stderr.
results = Console() if sys.stdout.isatty() else Console(width=200)

# Keep third-party chatter (transformers, torchao, executorch) off the user's terminal.
logging.getLogger("torch.utils._pytree").setLevel(logging.ERROR)  # torchao's enum registration notice
logging.getLogger("torchao").setLevel(logging.ERROR)  # its CUDA-only kernels cannot load on a CPU build
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


class Cli(click.Group):
    """Turns SlmEdgeError into one line on stderr and exit code 2, never a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except SlmEdgeError as err:
            console.print(f"[bold red]error:[/bold red] {err.one_line()}", highlight=False, soft_wrap=True)
            sys.exit(2)
        except click.exceptions.Exit:
            raise
        except click.ClickException:
            raise
        except Exception as exc:  # a bug, not bad input: still one line, the traceback on request
            if os.environ.get("SLM_EDGE_DEBUG"):
                raise
            first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
            console.print(f"[bold red]internal error:[/bold red] {type(exc).__name__}: {first}. "
                          "Fix: rerun with SLM_EDGE_DEBUG=1 for the traceback and report it", highlight=False, soft_wrap=True)
            sys.exit(3)
        except KeyboardInterrupt:
            console.print("[bold red]interrupted[/bold red]: nothing half-written was kept")
            sys.exit(130)


@click.group(cls=Cli, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="slm-edge")
def main():
    """Export, quantize and profile small language models for phones and edge boards."""


DEFAULT_MAX_SEQ_LEN = 1024
DEFAULT_QUANT = {"executorch": "8da4w", "onnx": "int4"}


def _human_bytes(n: int | None) -> str:
    if n is None:
        return "—"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _explicit(ctx: click.Context, name: str) -> bool:
    return ctx.get_parameter_source(name) not in (click.core.ParameterSource.DEFAULT, None)


@main.command()
@click.argument("model", required=False)
@click.option("--backend", type=click.Choice(["executorch", "onnx"]), default="executorch", show_default=True,
              help="Artifact format.")
@click.option("--quant", default=None,
              help="Quantization scheme. executorch: fp32, fp16, 8da4w, 8da8w, int8 (weight-only) [default 8da4w]; "
                   "onnx: fp32, fp16, int8, int4 [default int4].")
@click.option("--group-size", type=click.IntRange(min=0), default=32, show_default=True,
              help="executorch: weights per quantization group (0 = per channel).")
@click.option("--block-size", type=int, default=32, show_default=True,
              help="onnx int4/int8: weights per MatMulNBits block (16, 32, 64, 128, 256).")
@click.option("--accuracy-level", type=int, default=4, show_default=True,
              help="onnx int4/int8: MatMulNBits compute type of activations (0 default, 1 fp32, 2 fp16, 3 bf16, 4 int8).")
@click.option("--execution-provider", default="cpu", show_default=True,
              help="onnx: execution provider the device should use (cpu, xnnpack, nnapi, qnn); recorded in the manifest.")
@click.option("--embedding-quant", type=click.Choice(["none", "8w", "4w"]), default="8w", show_default=True)
@click.option("--max-seq-len", type=click.IntRange(min=1), default=None,
              help="Longest prompt + generated sequence the artifact accepts (KV cache size) "
                   "[default: 1024, or the model's maximum if smaller].")
@click.option("--path", "export_path", type=click.Choice(["auto", "fast", "generic"]), default="auto",
              show_default=True, help="fast: executorch's LLM model form; generic: transformers' exportable wrapper.")
@click.option("--random-weights", is_flag=True, help="MODEL is an architecture card; use random weights.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for --random-weights.")
@click.option("--recipe", type=click.Path(path_type=Path), help="YAML recipe (export_recipes/); options override it.")
@click.option("--out", type=click.Path(path_type=Path), help="Artifact folder [default: out/NAME-BACKEND-QUANT].")
@click.option("--force", is_flag=True, help="Export again even if the same artifact is cached.")
@click.option("--allow-pickle", is_flag=True, help="Allow pickle (.bin/.pt) weights. They can run code: only for folders you trust.")
@click.option("--trust-remote-code", is_flag=True, help="Let transformers run the model folder's own Python code.")
@click.pass_context
def export(ctx, model, backend, quant, group_size, block_size, accuracy_level, execution_provider, embedding_quant,
           max_seq_len, export_path, random_weights, seed, recipe, out, force, allow_pickle, trust_remote_code):
    """Convert and quantize MODEL into a runnable artifact with a manifest.

    MODEL is `smollm2-135m` (the embedded default), a card name with --random-weights, a local
    Hugging Face folder, a .gguf file, or a hub id (org/name).
    """
    from slm_edge.export import ExportRequest, export_model
    from slm_edge.progress import StageTimer
    from slm_edge.model.recipes import load_recipe
    from slm_edge.model.sources import resolve_source

    values = dict(backend=backend, quant=quant, group_size=group_size, embedding_quant=embedding_quant,
                  max_seq_len=max_seq_len, path=export_path, random_weights=random_weights, block_size=block_size,
                  accuracy_level=accuracy_level, execution_provider=execution_provider.lower())
    if recipe:
        recipe_values = load_recipe(recipe)
        option_names = {"path": "export_path"}
        for key, value in recipe_values.items():
            if key in values and not _explicit(ctx, option_names.get(key, key)):
                values[key] = value
        model = model or recipe_values.get("model")
    if not model:
        raise SlmEdgeError("no model given", "pass MODEL (e.g. smollm2-135m) or a --recipe that names one")
    if values["quant"] is None:
        values["quant"] = DEFAULT_QUANT[values["backend"]]
    source = resolve_source(model, random_weights=values.pop("random_weights"), seed=seed,
                            allow_pickle=allow_pickle, trust_remote_code=trust_remote_code)
    if values["max_seq_len"] is None:
        values["max_seq_len"] = min(DEFAULT_MAX_SEQ_LEN, source.config.get("max_position_embeddings") or DEFAULT_MAX_SEQ_LEN)
    request = ExportRequest(**values)
    out = out or Path("out") / f"{source.name}-{request.backend}-{request.quant}"
    console.print(f"[bold]slm-edge export[/bold] {source.name} ({source.kind}) → {request.backend} {request.quant}")
    outcome = export_model(source, request, out, force=force, timer=StageTimer())
    _print_manifest(outcome)


def _print_manifest(outcome) -> None:
    m = outcome.manifest
    arch, memory = m["architecture"], m["predicted_memory"]
    table = Table(title=f"Artifact {outcome.folder}" + ("  [dim](from cache)[/dim]" if outcome.from_cache else ""),
                  show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    table.add_row("source", f"{m['source']['name']} ({m['source']['kind']}) sha256 {m['source']['sha256'][:12]}")
    table.add_row("architecture", f"{arch['model_type']}: {arch['parameters'] / 1e6:.1f} M params, {arch['layers']} layers, "
                  f"hidden {arch['hidden_size']}, heads {arch['attention_heads']}/{arch['kv_heads']} (KV), "
                  f"FFN {arch['ffn_size']}, vocab {arch['vocab_size']}")
    q = m["quantization"]
    table.add_row("quantization", f"{q['scheme']} (group {q['group_size']}, embedding {q['embedding']}"
                  + (f", accuracy level {q['accuracy_level']}" if q.get("accuracy_level") else "") + f") — {q['description']}")
    table.add_row("export path", f"{m['export_path']} — {m['export_path_reason']}")
    table.add_row("max sequence", str(m["max_seq_len"]))
    for name, entry in m["files"].items():
        table.add_row(f"file {name}", f"{_human_bytes(entry['bytes'])}  sha256 {entry['sha256'][:12]}")
    table.add_row("predicted memory", f"weights {_human_bytes(memory['weight_bytes'])} + KV cache "
                  f"{_human_bytes(memory['kv_cache_bytes'])} + activations {_human_bytes(memory['activation_bytes'])} "
                  f"= {_human_bytes(memory['total_bytes'])}")
    runtime = m["runtime"]
    if "delegation" in runtime:
        table.add_row("delegation", f"{runtime['delegation']['delegate_calls']} XNNPACK calls; outside: "
                      f"{', '.join(runtime['delegation']['ops_outside_delegates'])}")
    if "op_types" in runtime:
        top = sorted(runtime["op_types"].items(), key=lambda kv: -kv[1])[:6]
        table.add_row("graph", f"opset {runtime['opset']}; ops " + ", ".join(f"{k.split('.')[-1]}×{v}" for k, v in top))
        table.add_row("runs on", f"{' / '.join(runtime['engines'])}; device EP {runtime['execution_provider']}")
    table.add_row("export time", f"{m['export']['wall_seconds']:.1f} s")
    results.print(table)


@main.command()
@click.argument("artifact", type=click.Path(path_type=Path))
@click.option("--steps", type=click.IntRange(min=1), default=32, show_default=True, help="Greedy decode steps compared.")
@click.option("--prompt", default="What is the capital of France?", show_default=True)
@click.option("--threads", type=click.IntRange(min=0), default=0, help="Runtime threads (0 = runtime default).")
@click.option("--engine", type=click.Choice(ENGINES), default=None,
              help="Runtime to run the artifact with [default: the artifact's first engine].")
def verify(artifact, steps, prompt, threads, engine):
    """Run ARTIFACT with its runtime here and compare it with the PyTorch reference."""
    from slm_edge.analysis.verify import verify_artifact

    with console.status("running the artifact and the PyTorch reference…"):
        result = verify_artifact(artifact, steps=steps, prompt=prompt, threads=threads, engine=engine)
    table = Table(title=f"verify {artifact} ({result['scheme']}, {result['export_path']}) on {result['engine']}",
                  show_header=False,
                  title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    table.add_row("greedy agreement", f"{result['greedy_agreement']:.3f} over {steps} tokens"
                  + ("  (identical)" if result["identical_tokens"] else f"  (first divergence at {result['first_divergence']})"))
    table.add_row("teacher-forced top-1", f"{result['teacher_forced_top1_agreement']:.3f}")
    table.add_row("mean KL(ref‖artifact)", f"{result['mean_kl']:.2e}")
    if result["artifact_text"] is not None:
        table.add_row("prompt", result["prompt"])
        table.add_row("artifact says", repr(result["artifact_text"]))
        table.add_row("reference says", repr(result["reference_text"]))
    results.print(table)


def _int_list(value: str, option: str) -> list[int]:
    try:
        items = [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise SlmEdgeError(f"{option} {value!r} is not a comma-separated list of integers", f"write e.g. {option} 32,128") from None
    if not items or any(v < 1 for v in items):
        raise SlmEdgeError(f"{option} {value!r} must list positive integers", f"write e.g. {option} 32,128")
    return items


@main.command()
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
    from slm_edge.report import terminal_table

    if serial and emulated:
        raise SlmEdgeError("both --emulated and --device given", "choose one: --emulated (this machine) or --device SERIAL")
    if not emulated and not serial:
        raise SlmEdgeError("no device chosen", "pass --emulated (this machine) or --device SERIAL")
    if serial and runner != "python":
        raise SlmEdgeError("--runner chooses what runs on the emulated device; on a phone the profiler app always runs",
                           "drop --runner, or use it with --emulated")
    options = ProfileOptions(prompt_lengths=_int_list(prompt_lengths, "--prompt-lengths"), decode_tokens=decode_tokens,
                             repeats=repeats, warmup=warmup, threads=_int_list(threads, "--threads"),
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
    results.print(terminal_table({out.name: outcome.analysis}))
    for warning in outcome.analysis["warnings"]:
        console.print(f"[yellow]warning:[/yellow] {warning}")
    console.print(f"reports in {out}: report.md, report.html, report.json, report.csv, perfetto.json")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def devices(as_json):
    """Devices adb sees: model, SoC/ABI, Android version, RAM, battery, thermal status, profiler app."""
    import json

    from slm_edge.device.adb import AdbDevice, adb_client, list_devices, state_problem
    from slm_edge.device.lock import DeviceBusy, device_lock

    client = adb_client()
    rows = []
    for serial, state in list_devices(client):
        row = {"serial": serial, "state": state}
        problem = state_problem(serial, state)
        if problem:
            row["problem"] = problem.one_line()
        else:
            device = AdbDevice(client, serial)
            try:
                try:
                    with device_lock(serial, 0):
                        row.update(device.info())
                except DeviceBusy:  # asking the app would stop the profile that holds the device
                    row.update(device.info(ask_app=False), app_note="a profile is running: the app was not asked")
            except SlmEdgeError as err:
                row["problem"] = err.one_line()
        rows.append(row)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        console.print("no devices: plug a phone in with USB debugging on, or `adb connect HOST:PORT`")
        return
    table = Table("serial", "state", "model", "SoC / ABI", "Android", "RAM", "battery", "thermal", "profiler app",
                  "app runtimes")
    for row in rows:
        app = row.get("app")
        battery = f"{row['battery_level']}%" if row.get("battery_level") is not None else "-"
        thermal = row.get("thermal_status")
        table.add_row(row["serial"], row["state"], row.get("model", "-"),
                      f"{row.get('soc') or row.get('cpu', '-')} / {','.join(row.get('abis', [])) or '-'}",
                      row.get("os", "-"), f"{row['ram_bytes'] / 2**30:.1f} GiB" if row.get("ram_bytes") else "-", battery,
                      "-" if thermal is None else str(thermal),
                      f"{app['version_name']} ({app['version_code']})" if app else ("not installed" if "app" in row else "-"),
                      _app_runtimes(app))
    results.print(table)
    for row in rows:
        if row.get("problem"):
            console.print(f"[yellow]{row['serial']}:[/yellow] {row['problem']}", highlight=False)


def _app_runtimes(app: dict | None) -> str:
    """What the installed app states it runs (its identity asset): 'executorch 1.5.1, onnxruntime 1.29.0'."""
    if not app:
        return "-"
    if app.get("identity_error"):
        return app["identity_error"]
    runtimes = app.get("runtimes")
    if not runtimes:
        return "not stated (app too old to say)"
    return ", ".join(f"{name} {version}" for name, version in sorted(runtimes.items()))


@main.group()
def app():
    """The bundled Android profiler app (android_app/)."""


@app.command("install")
@click.option("--device", "serial", help="adb serial [default: the only connected device].")
@click.option("--apk", type=click.Path(path_type=Path), help="APK to install [default: the one built from android_app/].")
def app_install(serial, apk):
    """Install the profiler app; refuses an APK without native code for the device's ABI."""
    from slm_edge.device.adb import open_device
    from slm_edge.device.apk import find_built_apk

    apk = apk or find_built_apk(Path(__file__).resolve().parents[2])
    device = open_device(serial)
    with console.status(f"installing {apk.name} on {device.serial}…"):
        installed = device.install(apk)
    console.print(f"installed {installed['package']} {installed['version_name']} (code {installed['version_code']}) "
                  f"on {device.serial}")


@main.command()
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--format", "formats", default="table", show_default=True,
              help="Comma-separated: table, md, json, csv, html, perfetto (files go to --out).")
@click.option("--out", type=click.Path(path_type=Path), help="Folder for report files [default: the single run folder].")
def report(run_dirs, formats, out):
    """Re-render one run's reports, or compare several runs side by side."""
    from slm_edge.analysis.run import analyze
    from slm_edge.report import FORMATS, terminal_table, write_reports
    from slm_edge.records.trace import load_trace

    wanted = [f.strip() for f in formats.split(",") if f.strip()]
    unknown = [f for f in wanted if f not in FORMATS + ("table",)]
    if unknown:
        raise SlmEdgeError(f"unknown report format {unknown[0]!r}", f"use any of: table, {', '.join(FORMATS)}")
    traces, runs = {}, {}
    for run_dir in run_dirs:
        name = Path(run_dir).name
        if name in traces:
            name = str(run_dir)
        traces[name] = load_trace(Path(run_dir) / "trace.json")
        runs[name] = analyze(traces[name])
    if "table" in wanted:
        results.print(terminal_table(runs))
    files = [f for f in wanted if f != "table"]
    if files:
        target = out or (Path(run_dirs[0]) if len(run_dirs) == 1 else None)
        if target is None:
            raise SlmEdgeError("several runs and no --out folder for the files", "pass --out DIR")
        target.mkdir(parents=True, exist_ok=True)
        for path in write_reports(target, runs, traces, files):
            console.print(f"wrote {path}")


@main.command()
@click.argument("run_dirs", nargs=-1, type=click.Path(path_type=Path))
@click.option("--max-memory", help="Budget for the model's own memory (peak RSS increase), e.g. 1.5GB or 800MiB.")
@click.option("--min-decode-tps", type=click.FloatRange(min=0), help="Slowest acceptable decode, tokens/s.")
@click.option("--min-agreement", type=click.FloatRange(0, 1), help="Lowest acceptable greedy agreement (from verify).")
@click.option("--prompt-length", type=click.IntRange(min=1), help="Judge at this prompt length [default: the longest profiled].")
@click.option("--json", "json_out", type=click.Path(path_type=Path), help="Also write the verdicts as JSON.")
def recommend(run_dirs, max_memory, min_decode_tps, min_agreement, prompt_length, json_out):
    """Which profiled artifacts (RUN_DIRS) fit a budget, best first, and why each other one fails."""
    import json

    from slm_edge.analysis.recommend import parse_size, recommend as choose

    passing, failing = choose(list(run_dirs), max_memory=parse_size(max_memory) if max_memory else None,
                              min_decode_tps=min_decode_tps, min_agreement=min_agreement, prompt_length=prompt_length)
    table = Table(title="Candidates that fit, best first" if passing else "No candidate fits the budget",
                  title_justify="left")
    for column in ("run", "model", "scheme", "engine", "thr", "prompt", "decode tok/s", "prefill tok/s",
                   "peak memory +", "agreement", "verdict"):
        table.add_column(column)
    for candidate in passing + failing:
        table.add_row(candidate.run, candidate.model, f"{candidate.backend} {candidate.scheme}", candidate.engine,
                      str(candidate.threads), str(candidate.prompt_length), f"{candidate.decode_tok_s:.1f}",
                      f"{candidate.prefill_tok_s:.0f}", _human_bytes(candidate.peak_memory_bytes),
                      "—" if candidate.greedy_agreement is None else f"{candidate.greedy_agreement:.2f}",
                      "fits" if not candidate.reasons else "; ".join(candidate.reasons))
    results.print(table)
    if json_out:
        json_out.write_text(json.dumps({"fits": [c.as_dict() for c in passing],
                                        "fails": [c.as_dict() for c in failing]}, indent=2) + "\n")


@main.command()
@click.argument("spec", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), help="Sweep folder [default: runs/sweep-NAME]; rerun to resume.")
def sweep(spec, out):
    """Export (cached), verify and profile every model × backend × scheme of SPEC, then one combined report."""
    import json

    from slm_edge.analysis.run import analyze
    from slm_edge.cache import atomic_write_text
    from slm_edge.report import terminal_table, write_reports
    from slm_edge.analysis.compare import quantization_effect
    from slm_edge.report import quantization_markdown
    from slm_edge.workflows.sweep import load_spec, run_sweep
    from slm_edge.records.trace import load_trace

    loaded = load_spec(spec)
    out = out or Path("runs") / f"sweep-{loaded.name}"
    state = run_sweep(loaded, out, progress=lambda line: console.print(line, highlight=False))
    complete = [out / "cells" / name for name, cell in state["cells"].items() if cell["status"] == "complete"]
    if complete:
        traces = {d.name: load_trace(d / "trace.json") for d in complete}
        runs = {name: analyze(trace) for name, trace in traces.items()}
        write_reports(out, runs, traces, ("json", "csv", "md", "html"))
        effect = quantization_effect(complete)
        atomic_write_text(out / "quantization.json", json.dumps(effect, indent=2) + "\n")
        atomic_write_text(out / "quantization.md", quantization_markdown(effect))
        results.print(terminal_table(runs))
        results.print(quantization_markdown(effect))
    failed = {name: cell["error"] for name, cell in state["cells"].items() if cell["status"] == "failed"}
    for name, error in failed.items():
        console.print(f"[bold red]failed[/bold red] {name}: {error}", highlight=False)
    console.print(f"sweep folder {out}: {len(complete)} cells complete, {len(failed)} failed "
                  f"(rerun the same command to retry only those)")
    if failed and not complete:
        raise SlmEdgeError(f"every cell of the sweep failed ({len(failed)})", f"see {out / 'sweep.json'}")


@main.command("cards")
def cards_command():
    """List the built-in architecture cards (use with --random-weights)."""
    from slm_edge.model.cards import card_names, load_card
    from slm_edge.model.memory import parameter_count

    table = Table(title="Architecture cards")
    for column in ("name", "params", "hub id", "description"):
        table.add_column(column)
    for name in card_names():
        card = load_card(name)
        table.add_row(name, f"{parameter_count(card.config) / 1e6:.0f} M", card.hf_id, card.description)
    results.print(table)


if __name__ == "__main__":
    main()
