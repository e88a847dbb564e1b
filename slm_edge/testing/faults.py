"""Fault injection for the emulated device: a JSON file in the device's state folder, read at the
moment a fault matters, so tests, the adbd server and the sandboxed device commands (separate
processes) all see the same settings. One-shot faults remove themselves when they fire.

Knobs:
  drop_push_after_bytes: N       one-shot: abort the TCP connection once pushes have sent N bytes of DATA in all
  drop_pull_after_bytes: N       one-shot: same for pulls
  drop_instrument_after_status: K  one-shot: abort the connection after `am instrument` printed K
                                 status blocks (the app keeps running)
  crash_at_phase: PHASE          one-shot: SIGKILL the runner when it reports this phase
  hang_at_phase: PHASE           one-shot: freeze the runner (SIGSTOP) at this phase; `am force-stop` ends it
  corrupt_trace: "truncate" | "flip"  one-shot: damage the trace after the runner finished (its sha256 is
                                 reported first, as the app would)
  app_reports_trace: PATH        one-shot: `am instrument` reports this trace path instead of the app's
                                 ({run} = Android/data/<pkg>/files/runs/<id>): another equivalent form
                                 (/sdcard/{run}/trace.json, /storage/self/primary/...) or a hostile one
  storage_bytes: N               persistent: /data + shared storage hold at most N bytes (push fails, df shows it)
  require_auth: true             persistent: answer CNXN with an AUTH challenge that is never accepted
"""

from __future__ import annotations

import fcntl
import json
import os
from contextlib import contextmanager
from pathlib import Path

FAULTS_FILE = "faults.json"
ONE_SHOT = {"drop_push_after_bytes", "drop_pull_after_bytes", "drop_instrument_after_status", "crash_at_phase",
            "hang_at_phase", "corrupt_trace", "app_reports_trace"}
PERSISTENT = {"storage_bytes", "require_auth"}
KNOWN = ONE_SHOT | PERSISTENT


@contextmanager
def _locked(state_dir: Path):
    with open(Path(state_dir) / ".faults.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield Path(state_dir) / FAULTS_FILE


def _load(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return {}


def _save(path: Path, faults: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(faults))
    os.replace(tmp, path)


def read_faults(state_dir: Path) -> dict:
    with _locked(state_dir) as path:
        return _load(path)


def set_faults(state_dir: Path, **faults) -> dict:
    """Set knobs (None removes one); returns all knobs now set."""
    unknown = set(faults) - KNOWN
    if unknown:
        raise ValueError(f"unknown fault(s) {sorted(unknown)}; known: {sorted(KNOWN)}")
    with _locked(state_dir) as path:
        current = _load(path)
        for name, value in faults.items():
            if value is None:
                current.pop(name, None)
            else:
                current[name] = value
        _save(path, current)
        return current


def clear_faults(state_dir: Path) -> None:
    with _locked(state_dir) as path:
        _save(path, {})


def take_fault(state_dir: Path, name: str):
    """A one-shot fault's value, removing it (None if not set): it fires once even across processes."""
    with _locked(state_dir) as path:
        current = _load(path)
        value = current.pop(name, None)
        if value is not None:
            _save(path, current)
        return value
