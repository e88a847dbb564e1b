"""`slm-edge export`: its export options are made from the declared settings (slm_edge.export.config)."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from slm_edge.cli.output import console, explicit, human_bytes, results
from slm_edge.errors import BadInput
from slm_edge.export.config import SETTINGS, Setting


def _option(setting: Setting):
    if setting.choices:
        kind = click.Choice(list(setting.choices))
    elif setting.type is int and setting.minimum is not None:
        kind = click.IntRange(min=setting.minimum)
    else:
        kind = setting.type
    section = "" if setting.section == "common" else f"{setting.section}: "
    if setting.type is bool:
        return click.option("--" + setting.name.replace("_", "-"), setting.name, is_flag=True, default=setting.default,
                            help=section + setting.help)
    return click.option("--" + setting.name.replace("_", "-"), setting.name, type=kind, default=setting.default,
                        show_default=setting.show_default, help=section + setting.help)


def setting_options(command):
    """One click option per declared export setting, in declaration order."""
    for setting in reversed(SETTINGS.values()):
        command = _option(setting)(command)
    return command


@click.command()
@click.argument("model", required=False)
@setting_options
@click.option("--random-weights", is_flag=True, help="MODEL is an architecture card; use random weights.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for --random-weights.")
@click.option("--recipe", type=click.Path(path_type=Path), help="YAML recipe (export_recipes/); options override it.")
@click.option("--out", type=click.Path(path_type=Path), help="Artifact folder [default: out/NAME-BACKEND-QUANT].")
@click.option("--force", is_flag=True, help="Export again even if the same artifact is cached.")
@click.option("--allow-pickle", is_flag=True, help="Allow pickle (.bin/.pt) weights. They can run code: only for folders you trust.")
@click.option("--trust-remote-code", is_flag=True, help="Let transformers run the model folder's own Python code.")
@click.pass_context
def export(ctx, model, random_weights, seed, recipe, out, force, allow_pickle, trust_remote_code, **settings):
    """Convert and quantize MODEL into a runnable artifact with a manifest.

    MODEL is `smollm2-135m` (the embedded default), a card name with --random-weights, a local
    Hugging Face folder, a .gguf file, or a hub id (org/name).
    """
    from slm_edge.export import ExportConfig, export_model
    from slm_edge.export.recipes import export_settings, load_recipe
    from slm_edge.model.sources import resolve_source
    from slm_edge.progress import StageTimer

    # what the user typed wins over the recipe, which wins over the declared defaults
    given = {name: value for name, value in settings.items() if explicit(ctx, name)}
    if recipe:
        recipe_values = load_recipe(recipe)
        given = {**export_settings(recipe_values), **given}
        model = model or recipe_values.get("model")
        random_weights = random_weights or recipe_values.get("random_weights", False)
    if not model:
        raise BadInput("no model given", "pass MODEL (e.g. smollm2-135m) or a --recipe that names one")
    config = ExportConfig.from_settings(given)
    source = resolve_source(model, random_weights=random_weights, seed=seed, allow_pickle=allow_pickle,
                            trust_remote_code=trust_remote_code)
    config = config.resolved(source.config)
    out = out or Path("out") / f"{source.name}-{config.backend}-{config.quant}"
    console.print(f"[bold]slm-edge export[/bold] {source.name} ({source.kind}) → {config.backend} {config.quant}")
    outcome = export_model(source, config, out, force=force, timer=StageTimer())
    results.print(manifest_table(outcome))


def manifest_table(outcome) -> Table:
    m = outcome.manifest
    arch, memory, source = m.architecture, m.predicted_memory, m.source
    table = Table(title=f"Artifact {outcome.folder}" + ("  [dim](from cache)[/dim]" if outcome.from_cache else ""),
                  show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    table.add_row("source", f"{source.name} ({source.kind}) sha256 {source.sha256[:12]}")
    table.add_row("architecture", f"{arch.model_type}: {arch.parameters / 1e6:.1f} M params, {arch.layers} layers, "
                  f"hidden {arch.hidden_size}, heads {arch.attention_heads}/{arch.kv_heads} (KV), "
                  f"FFN {arch.ffn_size}, vocab {arch.vocab_size}")
    q = m.quantization
    table.add_row("quantization", f"{q.scheme} (group {q.group_size}, embedding {q.embedding}"
                  + (f", accuracy level {q.accuracy_level}" if q.accuracy_level else "") + f") — {q.description}")
    table.add_row("export path", f"{m.export_path} — {m.export_path_reason}")
    table.add_row("max sequence", str(m.max_seq_len))
    for name, entry in m.files.items():
        table.add_row(f"file {name}", f"{human_bytes(entry.bytes)}  sha256 {entry.sha256[:12]}")
    table.add_row("predicted memory", f"weights {human_bytes(memory.weight_bytes)} + KV cache "
                  f"{human_bytes(memory.kv_cache_bytes)} + activations {human_bytes(memory.activation_bytes)} "
                  f"= {human_bytes(memory.total_bytes)}")
    runtime = m.runtime
    if runtime.delegation is not None:
        table.add_row("delegation", f"{runtime.delegation['delegate_calls']} XNNPACK calls; outside: "
                      f"{', '.join(runtime.delegation['ops_outside_delegates'])}")
    if runtime.op_types is not None:
        top = sorted(runtime.op_types.items(), key=lambda kv: -kv[1])[:6]
        table.add_row("graph", f"opset {dict(runtime.opset or {})}; ops "
                      + ", ".join(f"{k.split('.')[-1]}×{v}" for k, v in top))
        table.add_row("runs on", f"{' / '.join(runtime.engine_names)}; device EP {runtime.execution_provider}")
    peak = (f"; peak memory {m.export.peak_rss_bytes / 2**20:,.0f} MiB"
            + (" (the whole process's)" if m.export.peak_rss_scope == "process" else "")) if m.export.peak_rss_bytes else ""
    table.add_row("export time", f"{m.export.wall_seconds:.1f} s{peak}")
    return table
