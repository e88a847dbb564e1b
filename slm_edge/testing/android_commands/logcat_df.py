"""logcat and df on the emulated phone."""

from __future__ import annotations

import os
import sys
import time

from slm_edge.testing.android_commands.state import STATE, read_state
from slm_edge.testing.device_folder import used_bytes


def logcat(args: list[str]) -> int:
    path = STATE / "logcat.txt"
    if "-c" in args:
        path.write_text("")
        return 0
    lines = path.read_text().splitlines(keepends=True) if path.exists() else []
    if "-t" in args:
        count = int(args[args.index("-t") + 1])
        lines = lines[-count:] if count else []
    sys.stdout.write("".join(lines))
    sys.stdout.flush()
    if "-d" in args or "-t" in args:
        return 0
    offset = path.stat().st_size
    while True:  # follow, as logcat without -d does, until the host hangs up
        size = path.stat().st_size
        if size > offset:
            with open(path) as f:
                f.seek(offset)
                sys.stdout.write(f.read())
                sys.stdout.flush()
        offset = size
        time.sleep(0.1)


def df(args: list[str]) -> int:
    human = "-h" in args
    paths = [a for a in args if not a.startswith("-")] or ["/data", "/storage/emulated"]
    limit = read_state("faults.json", {}).get("storage_bytes")
    print("Filesystem       Size  Used Avail Use% Mounted on" if human else
          "Filesystem      1K-blocks    Used Available Use% Mounted on")
    for path in paths:
        mount = "/storage/emulated" if path.startswith(("/sdcard", "/storage")) else \
            "/data" if path.startswith("/data") else path
        source = "/dev/fuse" if mount == "/storage/emulated" else "/dev/block/dm-48"
        if mount in ("/data", "/storage/emulated") and limit is not None:
            total, used = int(limit), used_bytes("/data", "/storage/emulated")
            free = max(0, total - used)
        else:
            try:
                st = os.statvfs(path)
            except OSError as err:
                print(f"df: {path}: {err.strerror}", file=sys.stderr)
                return 1
            total, free = st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize
            used = total - st.f_bfree * st.f_frsize
        percent = f"{(100 * used + total - 1) // total if total else 0}%"
        if human:
            print(f"{source:<16} {_human(total):>4} {_human(used):>5} {_human(free):>5} {percent:>4} {mount}")
        else:
            print(f"{source:<15} {total // 1024:>9} {used // 1024:>7} {free // 1024:>9} {percent:>4} {mount}")
    return 0


def _human(size: float) -> str:
    for unit in ("", "K", "M", "G", "T"):
        if size < 1024 or unit == "T":
            return f"{size:.0f}{unit}" if size >= 10 or not unit else f"{size:.1f}{unit}"
        size /= 1024
    return str(size)
