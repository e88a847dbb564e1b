"""`slm-edge cards`: the built-in architecture cards, their architecture facts and export paths."""

from __future__ import annotations

import click
from rich.table import Table

from slm_edge.cli.output import emit, results
from slm_edge.model.cards import COHORTS


@click.command("cards")
@click.option("--json", "as_json", is_flag=True, help="Print every card with its facts, source and paths as JSON.")
@click.option("--cohort", type=click.Choice(COHORTS), help="Only the survey's models, or today's.")
def cards(as_json, cohort):
    """List the built-in architecture cards (use with --random-weights)."""
    from slm_edge.export.paths import BACKEND_TITLES
    from slm_edge.model.cards import architecture_facts, card_names, load_card

    listed = []
    for name in card_names():
        card = load_card(name)
        if cohort and card.cohort != cohort:
            continue
        listed.append({"name": card.name, "hf_id": card.hf_id, "cohort": card.cohort, "family": card.family,
                       "description": card.description, "facts": architecture_facts(card),
                       "paths": {backend: card_path(card, backend) for backend in BACKEND_TITLES},
                       "source": card.source})

    def table() -> None:
        out = Table(title="Architecture cards")
        for column in ("name", "cohort", "params", "hub id", "description",
                       *(f"{title} path" for title in BACKEND_TITLES.values())):
            out.add_column(column)
        for entry in listed:
            parameters = entry["facts"]["parameters"]
            out.add_row(entry["name"], entry["cohort"], f"{parameters / 1e6:.0f} M" if parameters else "—",
                        entry["hf_id"], entry["description"],
                        *(path_text(entry["paths"][backend]) for backend in BACKEND_TITLES))
        results.print(out)

    emit(listed, as_json, table)


def card_path(card, backend: str) -> dict:
    """{"path": "fast" | "generic" | None, "reason": why that path, or why none can take the card}."""
    from slm_edge.model.cards import unbuildable_reason

    reason = unbuildable_reason(card)
    if reason:
        return {"path": None, "reason": reason + _uniform_layers_note(card)}
    return path_choice(card.config, backend)


def _uniform_layers_note(card) -> str:
    from slm_edge.model.cards import architecture_facts

    widths = architecture_facts(card)["per_layer_widths"]
    if not widths:
        return ""
    return (f"; and its per-layer widths ({', '.join(widths)}) fit neither ExecuTorch's LLM model nor "
            "onnxruntime-genai's builder, which give every layer the same head count and FFN width")


def path_choice(config: dict, backend: str) -> dict:
    from slm_edge.errors import BadInput
    from slm_edge.export.paths import choose_path

    try:
        path, reason = choose_path(config, "auto", backend)
    except BadInput as exc:
        return {"path": None, "reason": exc.problem}
    return {"path": path, "reason": reason}


def path_text(choice: dict) -> str:
    """'fast', or the path taken and why the fast one is not, or why none is."""
    if choice["path"] is None:
        return f"none: {choice['reason']}"
    return "fast" if choice["path"] == "fast" else f"{choice['path']}: {choice['reason']}"
