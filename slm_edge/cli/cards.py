"""`slm-edge cards`: the built-in architecture cards."""

from __future__ import annotations

import click
from rich.table import Table

from slm_edge.cli.output import results


@click.command("cards")
def cards():
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
