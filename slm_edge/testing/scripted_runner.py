"""A fast stand-in for `python -m slm_edge.runner`, for tests of the emulated phone's app
machinery (status streaming, crash, hang, force-stop, trace damage) that need no real model.
Same command line and the same kind of output: status lines on stdout, a trace rewritten
atomically after every repeat, the log on stderr. Enable it with EmulatedPhone.use_scripted_runner().

Config keys read: repeats (default 3), threads (default [1]), trace_file, scripted_step_s (default 0.1).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from slm_edge.contract import STATUS_PREFIX, TRACE_SCHEMA


def status(**fields) -> None:
    print(STATUS_PREFIX, " ".join(f"{k}={v}" for k, v in fields.items()), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripted_runner")
    parser.add_argument("config", type=Path)
    parser.add_argument("--emulated", action="store_true")
    parser.add_argument("--trace-dir", type=Path)
    args = parser.parse_args(argv)
    try:
        config = json.loads(args.config.read_text())
    except (OSError, ValueError) as err:
        print(f"error: run config unreadable: {err}", file=sys.stderr)
        return 2
    trace_path = (args.trace_dir or args.config.parent) / config.get("trace_file", "trace.json")
    trace_path.parent.mkdir(parents=True, exist_ok=True)
    step_s = float(config.get("scripted_step_s", 0.1))
    trace = {"schema": TRACE_SCHEMA, "status": "running", "producer": {"name": "scripted_runner"}, "runs": [],
             "errors": []}

    def flush() -> None:
        tmp = trace_path.with_name(f".{trace_path.name}.tmp")
        tmp.write_text(json.dumps(trace))
        os.replace(tmp, trace_path)

    for threads in config.get("threads", [1]):
        status(phase="load", threads=threads)
        print(f"loading with {threads} threads", file=sys.stderr, flush=True)
        time.sleep(step_s)
        for index in range(int(config.get("repeats", 3))):
            status(phase="run", run=len(trace["runs"]), threads=threads)
            time.sleep(step_s)
            trace["runs"].append({"threads": threads, "repeat": index, "prefill_ms": 1.0})
            flush()
    trace["status"] = "complete"
    flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
