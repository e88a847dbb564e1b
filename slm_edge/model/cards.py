"""Built-in architecture cards: real model configs shipped as data, usable with random weights."""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources

from slm_edge.errors import BadInput


@dataclass(frozen=True)
class Card:
    name: str
    description: str
    hf_id: str
    family: str
    config: dict
    text: str  # the card file itself, hashed into the source identity


def _card_files():
    return {p.name[: -len(".json")]: p for p in (resources.files("slm_edge.model") / "cards").iterdir() if p.name.endswith(".json")}


def card_names() -> list[str]:
    return sorted(_card_files())


def load_card(name: str) -> Card:
    files = _card_files()
    if name not in files:
        raise BadInput(
            f"no architecture card named '{name}'",
            f"use one of: {', '.join(sorted(files))}",
        )
    text = files[name].read_text()
    data = json.loads(text)
    return Card(
        name=data["name"],
        description=data["description"],
        hf_id=data["hf_id"],
        family=data["family"],
        config=data["config"],
        text=text,
    )
