"""manifest.json: what was built, from what, how, and what it should cost in memory."""

from __future__ import annotations

import json
import platform
from importlib import metadata as importlib_metadata
from pathlib import Path

from slm_edge import __version__, cache
from slm_edge.errors import SlmEdgeError
from slm_edge.contract import MANIFEST, MANIFEST_SCHEMA as SCHEMA, MANIFEST_SCHEMA_VERSION as SCHEMA_VERSION, VERIFY_FILE  # noqa: F401

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja", "tokenizer.model")


def library_versions() -> dict:
    versions = {"python": platform.python_version(), "slm_edge": __version__}
    for package in ("torch", "executorch", "torchao", "transformers", "onnx", "onnxruntime"):
        try:
            versions[package] = importlib_metadata.version(package)
        except importlib_metadata.PackageNotFoundError:
            versions[package] = None
    return versions


def read_manifest(folder: Path) -> dict:
    folder = Path(folder)
    path = folder / MANIFEST
    if not folder.is_dir():
        raise SlmEdgeError(f"artifact folder not found: {folder}", "pass the --out folder of `slm-edge export`")
    if not path.is_file():
        raise SlmEdgeError(f"{folder} has no {MANIFEST}, so it is not an slm-edge artifact", "export it with `slm-edge export`")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise SlmEdgeError(f"{path} is not valid JSON ({exc.msg})", "re-export the artifact with --force") from exc
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if (not isinstance(manifest, dict) or manifest.get("schema") != SCHEMA or not isinstance(files, dict)
            or not all(isinstance(e, dict) and isinstance(e.get("bytes"), int) and isinstance(e.get("sha256"), str)
                       for e in files.values())):
        raise SlmEdgeError(f"{path} is not an slm-edge manifest", "re-export the artifact with --force")
    if not isinstance(manifest.get("schema_version", 0), int) or manifest.get("schema_version", 0) > SCHEMA_VERSION:
        raise SlmEdgeError(
            f"{path} has manifest schema {manifest.get('schema_version')}, newer than this slm-edge reads ({SCHEMA_VERSION})",
            "upgrade slm-edge",
        )
    return manifest


def check_files(folder: Path, manifest: dict) -> None:
    """Every file the manifest lists is present with the recorded size and sha256."""
    for name, entry in manifest["files"].items():
        path = Path(folder) / name
        if not path.is_file():
            raise SlmEdgeError(f"artifact file missing: {path}", "re-export the artifact (`slm-edge export ... --force`)")
        if path.stat().st_size != entry["bytes"] or cache.sha256_file(path) != entry["sha256"]:
            raise SlmEdgeError(
                f"artifact file {path} does not match its manifest hash (changed or corrupted)",
                "re-export the artifact (`slm-edge export ... --force`)",
            )
