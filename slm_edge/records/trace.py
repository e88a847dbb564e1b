"""The trace contract: run config and trace JSON Schemas (slm_edge/records/schemas/), loading and validation.

The Linux runner and the Android app both write traces in this form; every trace the host reads
is validated before anything is computed from it.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from pathlib import Path

import jsonschema

from slm_edge.errors import SlmEdgeError
from slm_edge.contract import CONFIG_SCHEMA_VERSION, MIN_TRACE_SCHEMA_VERSION, TRACE_SCHEMA_VERSION  # noqa: F401 (readers' API)



@lru_cache(maxsize=None)
def schema(name: str) -> dict:
    return json.loads((resources.files("slm_edge.records") / "schemas" / f"{name}.schema.json").read_text())


def _validate(document, name: str, label: str) -> None:
    validator = jsonschema.Draft202012Validator(schema(name))
    error = jsonschema.exceptions.best_match(validator.iter_errors(document))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        raise SlmEdgeError(
            f"{label} is malformed at {where}: {error.message[:200]}",
            "re-run the profile; if it persists, the device-side runner and this slm-edge disagree on the trace format",
        )


def _read_json(path: Path, label: str):
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError as exc:
        raise SlmEdgeError(f"{label} not found: {path}", "check the path") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SlmEdgeError(f"{label} {path} is not valid JSON (truncated or corrupted)", "re-run the profile") from exc


def validate_trace(trace: dict, label: str = "trace") -> dict:
    if not isinstance(trace, dict):
        raise SlmEdgeError(f"{label} is not a JSON object", "re-run the profile")
    version = trace.get("schema_version")
    if isinstance(version, int) and not isinstance(version, bool) and version > TRACE_SCHEMA_VERSION:
        raise SlmEdgeError(
            f"{label} has trace schema version {version}; this slm-edge reads versions "
            f"{MIN_TRACE_SCHEMA_VERSION} to {TRACE_SCHEMA_VERSION}",
            "upgrade slm-edge on the host (pip install -U slm-edge)",
        )
    if isinstance(version, int) and not isinstance(version, bool) and version < MIN_TRACE_SCHEMA_VERSION:
        raise SlmEdgeError(
            f"{label} has trace schema version {version}; this slm-edge reads versions "
            f"{MIN_TRACE_SCHEMA_VERSION} to {TRACE_SCHEMA_VERSION}",
            "update the profiler app (slm-edge app install) or profile with an older slm-edge",
        )
    _validate(trace, "trace", label)
    return trace


def load_trace(path: Path) -> dict:
    return validate_trace(_read_json(path, "trace"), f"trace {path}")


def validate_config(config: dict, label: str = "run config") -> dict:
    _validate(config, "run_config", label)
    return config


def load_config(path: Path) -> dict:
    return validate_config(_read_json(path, "run config"), f"run config {path}")
