"""The host's note of a detached run (profile --detach) on a device: while it runs, nothing may start
the app again (every instrumentation, the identity query included, force-stops the running one:
ActivityManagerService.startInstrumentation), so profiles, evals, `devices` and `app install` ask here."""

from __future__ import annotations

import json
import time
from pathlib import Path

from slm_edge import cache
from slm_edge.device import Detached, Device
from slm_edge.device.safe_paths import safe_name
from slm_edge.errors import BadInput


STARTING_S = 300.0  # a note without its run for longer than this: the command that started it died


def detached_marker(serial: str) -> Path:
    return cache.root_for("detached") / f"{safe_name(serial)}.json"


def write_marker(serial: str, note: dict) -> None:
    cache.atomic_write_text(detached_marker(serial), json.dumps({**note, "written_at": time.time()}))


def drop_marker(serial: str, run_dir: str) -> None:
    """Forget the note, if it is this run's."""
    marker = detached_marker(serial)
    try:
        if json.loads(marker.read_text()).get("run_dir") == run_dir:
            marker.unlink()
    except (OSError, ValueError):
        pass


def detached_run_on(device: Device) -> str | None:
    """The run folder of a detached run still going on this device, or None."""
    try:
        note = json.loads(detached_marker(device.serial).read_text())
        detached = note.get("detached")
        if detached is None:  # written before the start: under way, unless that command died starting it
            return note["run_dir"] if time.time() - float(note.get("written_at") or 0) < STARTING_S else None
        return note["run_dir"] if device.detached_running(Detached.from_json(detached)) else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def check_no_detached_run(device: Device) -> None:
    run_dir = detached_run_on(device)
    if run_dir:
        raise BadInput(f"a detached run is still going on {device.serial} ({run_dir}); starting the app again "
                       "would stop it", f"collect it first: slm-edge collect {run_dir} (add {{wait}} SECONDS "
                       "to wait for it, or --stop to end it)")
