"""Writing manifest.json at the end of an export: what was built, its files and hashes, the versions
that built it, and the memory it should cost (reading it back is records.manifest)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from slm_edge import cache
from slm_edge.errors import BadInput, RuntimeFailure
from slm_edge.model.memory import finish_manifest_prediction
from slm_edge.contract import MANIFEST, MANIFEST_SCHEMA, MANIFEST_SCHEMA_VERSION
from slm_edge.records.manifest import Manifest, library_versions


def file_entries(folder: Path) -> dict:
    return {
        p.name: {"bytes": p.stat().st_size, "sha256": cache.sha256_file(p)}
        for p in sorted(folder.iterdir())
        if p.is_file() and p.name != MANIFEST
    }


def write_manifest(folder: Path, body: dict) -> Manifest:
    """Checked against the manifest schema before it is written, so no reader ever sees a bad one."""
    # onnxruntime's memory depends on the written graph (shared KV buffer, embedding) and the
    # accuracy level, which the export-time prediction does not see
    finish_manifest_prediction(body, folder)
    document = {
        "schema": MANIFEST_SCHEMA,
        "schema_version": MANIFEST_SCHEMA_VERSION,
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **body,
        "files": file_entries(folder),
        "versions": library_versions(),
    }
    try:
        manifest = Manifest.from_json(document, f"the manifest of {folder}")
    except BadInput as err:  # the exporter's fault, not the user's
        raise RuntimeFailure(err.problem, "report this as an slm-edge bug, with the export command") from err
    cache.atomic_write_text(folder / MANIFEST, json.dumps(manifest.to_json(), indent=2) + "\n")
    return manifest
