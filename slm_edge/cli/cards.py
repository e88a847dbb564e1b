"""`slm-edge cards`: the built-in architecture cards."""

from __future__ import annotations

import click
from rich.table import Table

from slm_edge.cli.output import results


@click.command("cards")
def cards():
    """List the built-in architecture cards (use with --random-weights)."""
    from slm_edge.export.paths import BACKEND_TITLES
    from slm_edge.model.cards import card_names, load_card
    from slm_edge.model.memory import parameter_count

    table = Table(title="Architecture cards")
    for column in ("name", "params", "hub id", "description", *(f"{title} path" for title in BACKEND_TITLES.values())):
        table.add_column(column)
    for name in card_names():
        card = load_card(name)
        table.add_row(name, f"{parameter_count(card.config) / 1e6:.0f} M", card.hf_id, card.description,
                      *(path_summary(card.config, backend) for backend in BACKEND_TITLES))
    results.print(table)


def path_summary(config: dict, backend: str) -> str:
    """'fast', or the path taken and why the fast one is not, or why none is."""
    from slm_edge.errors import BadInput
    from slm_edge.export.paths import choose_path

    try:
        path, reason = choose_path(config, "auto", backend)
    except BadInput as exc:
        return f"none: {exc.problem}"
    return "fast" if path == "fast" else f"{path}: {reason}"
