"""The architecture facts of a Hugging Face config that sizing, memory prediction and the manifest use
(the record is records.manifest.Architecture; this is its dict form, as the manifest stores it)."""

from __future__ import annotations

from slm_edge.records.manifest import Architecture


def architecture_facts(config: dict, parameter_count: int) -> dict:
    return Architecture.from_hf_config(config, parameter_count).to_json()
