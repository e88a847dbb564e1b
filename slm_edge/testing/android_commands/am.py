"""am on the emulated phone: instrument (a profile run or the identity query), start, force-stop."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

from slm_edge import contract as android
from slm_edge.testing.android_commands.state import STATE, external_files_dir, log, packages
from slm_edge.testing.app_process import RESULT_PREFIX, kill_app_processes, running_app, write_app
from slm_edge.testing.faults import take_fault


def _parse_intent_args(args: list[str]) -> tuple[dict, set[str], list[str]]:
    """(extras, flags, positional) from am's options: -e/--es K V, -n COMPONENT, -w, -r, -W, -S..."""
    extras, flags, positional = {}, set(), []
    index = 0
    while index < len(args):
        arg = args[index]
        if arg in ("-e", "--es", "--ei", "--ez"):
            extras[args[index + 1]] = args[index + 2]
            index += 2
        elif arg in ("-n", "--user", "-p", "-a", "--abi"):
            flags.add(arg)
            if arg == "-n":
                positional.append(args[index + 1])
            index += 1
        elif arg.startswith("-"):
            flags.add(arg)
        else:
            positional.append(arg)
        index += 1
    return extras, flags, positional


def _full_component(component: str) -> tuple[str, str]:
    package, _, cls = component.partition("/")
    return package, package + cls if cls.startswith(".") else cls


def _launch_app(package: str, extras: dict) -> tuple[dict, Path]:
    """Start the app's process (detached from this shell) for a profile run; returns (app, events file)."""
    kill_app_processes(STATE, package)  # Android restarts the process for an instrumentation
    run_id = extras.get(android.EXTRA_RUN_ID) or time.strftime("%Y%m%d-%H%M%S")
    config = extras.get(android.EXTRA_CONFIG, "")
    trace_dir = f"{external_files_dir(package)}/runs/{run_id}"  # what the app reports: getExternalFilesDir
    try:
        trace_file = json.loads(Path(config).read_text()).get("trace_file", "trace.json")
    except (OSError, ValueError):
        trace_file = "trace.json"
    events = STATE / "apps" / f"events-{run_id}-{secrets.token_hex(4)}.txt"
    events.touch()
    process = subprocess.Popen(
        [sys.executable, "-m", "slm_edge.testing.app_process", "--events", str(events), "--package", package,
         "--trace", f"{trace_dir}/{trace_file}", "--", config, "--emulated", "--trace-dir", trace_dir],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    app = {"package": package, "pid": process.pid, "events": str(events), "run_id": run_id}
    write_app(STATE, app)
    return {**app, "process": process}, events


def _instrumentation_failed(component: str, wait: bool = True) -> int:
    package, cls = _full_component(component)
    if not wait:  # no watcher for AMS to report to: only am's exception (cmds/am Instrument.run())
        print(f"android.util.AndroidException: INSTRUMENTATION_FAILED: {package}/{cls}", file=sys.stderr)
        return 1
    print("INSTRUMENTATION_STATUS: id=ActivityManagerService")
    print(f"INSTRUMENTATION_STATUS: Error=Unable to find instrumentation info for: ComponentInfo{{{package}/{cls}}}")
    print("INSTRUMENTATION_STATUS_CODE: -1")
    print(f"android.util.AndroidException: INSTRUMENTATION_FAILED: {package}/{cls}", file=sys.stderr)
    return 1


def am_instrument(args: list[str]) -> int:
    extras, flags, positional = _parse_intent_args(args)
    component = positional[-1] if positional else ""
    package, cls = _full_component(component)
    if package not in packages() or cls != _full_component(android.INSTRUMENTATION)[1]:
        return _instrumentation_failed(component, "-w" in flags)
    info = packages()[package]
    if extras.get(android.EXTRA_QUERY) == android.QUERY_IDENTITY and \
            info["version_code"] >= android.MIN_IDENTITY_VERSION_CODE:  # an older app has no query: it would run
        # every instrumentation restarts the app: ActivityManagerService.startInstrumentation calls
        # forceStopPackageLocked(..., "start instr") first, so a query ends a running profile too
        kill_app_processes(STATE, package)
        return _answer_identity(info)
    app, events = _launch_app(package, extras)
    if "-w" not in flags:  # am starts it and exits, printing nothing (cmds/am Instrument.run(): no reporter)
        return 0
    return _follow_instrumentation(app, events)


def _answer_identity(info: dict) -> int:
    """The app's answer to `-e query identity`: its identity asset, one line, then RESULT_OK."""
    asset = info.get("asset") or {k: info[k] for k in ("package", "version_name", "version_code")}
    print(f"INSTRUMENTATION_RESULT: {android.QUERY_IDENTITY}={json.dumps(asset, separators=(',', ':'))}")
    print("INSTRUMENTATION_CODE: -1", flush=True)
    return 0


def _follow_instrumentation(app: dict, events: Path) -> int:
    """Stream the app's progress as INSTRUMENTATION_STATUS blocks until its result line."""
    process: subprocess.Popen = app["process"]
    offset = 0
    pending = ""
    while True:
        with open(events) as f:
            f.seek(offset)
            chunk = f.read()
            offset = f.tell()
        pending += chunk
        *lines, pending = pending.split("\n")
        for line in lines:
            if line.startswith(android.STATUS_PREFIX):
                for field in line.split()[1:]:
                    print(f"INSTRUMENTATION_STATUS: {field}")
                print("INSTRUMENTATION_STATUS_CODE: 1", flush=True)
            elif line.startswith(RESULT_PREFIX):
                return _print_result(json.loads(line[len(RESULT_PREFIX):]), app)
        if not chunk and process.poll() is not None and not pending:
            # died without a result line: killed (force-stop, OOM) like a crash
            with open(events) as f:
                f.seek(offset)
                if f.read():
                    continue
            return _print_result({"crashed": True})
        if not chunk:
            time.sleep(0.05)


def _print_result(result: dict, app: dict | None = None) -> int:
    if result.get("crashed"):
        print("INSTRUMENTATION_RESULT: shortMsg=Process crashed.")
        print("INSTRUMENTATION_CODE: 0", flush=True)
        return 0
    print(f"INSTRUMENTATION_RESULT: status={result['status']}")
    if result.get("trace"):
        reported = take_fault(STATE, "app_reports_trace") if app else None
        if reported:  # an app that names its trace another way (or a hostile one): see faults.py
            result["trace"] = reported.replace("{run}", f"Android/data/{app['package']}/files/runs/{app['run_id']}")
        print(f"INSTRUMENTATION_RESULT: trace={result['trace']}")
        print(f"INSTRUMENTATION_RESULT: trace_sha256={result['trace_sha256']}")
    if result.get("error"):
        print(f"INSTRUMENTATION_RESULT: error={' '.join(str(result['error']).split())}")
    ok = result["status"] == "complete" and result.get("exit_code") == 0
    print(f"INSTRUMENTATION_CODE: {-1 if ok else 0}", flush=True)
    return 0


def pidof(args: list[str]) -> int:
    """toybox pidof (toys/lsb/pidof.c): the pids of the processes with that name, space-separated,
    exit 1 when there is none. The app's process is named after its package."""
    names = [arg for arg in args if not arg.startswith("-")]
    app = running_app(STATE)
    if app and app["package"] in names:
        print(app["pid"])
        return 0
    return 1


def am(args: list[str]) -> int:
    verb, rest = (args[0], args[1:]) if args else ("", [])
    if verb == "instrument":
        return am_instrument(rest)
    if verb in ("start", "start-activity"):
        extras, flags, positional = _parse_intent_args(rest)
        component = positional[-1] if positional else ""
        package, cls = _full_component(component)
        print(f"Starting: Intent {{ cmp={component}" + (" (has extras)" if extras else "") + " }")
        if package not in packages() or cls != _full_component(android.ACTIVITY)[1]:
            print(f"Error type 3\nError: Activity class {{{package}/{cls}}} does not exist.", file=sys.stderr)
            return 1
        if "-S" in flags:
            kill_app_processes(STATE, package)
        _launch_app(package, extras)
        if "-W" in flags:
            print(f"Status: ok\nLaunchState: COLD\nActivity: {package}/{cls}\nTotalTime: 120\nWaitTime: 125\nComplete")
        return 0
    if verb == "force-stop":
        package = rest[-1] if rest else ""
        if kill_app_processes(STATE, package):
            log("ActivityManager", f"Force stopping {package} appid=10123 user=0: from pid {os.getpid()}")
        return 0
    print(f"Error: unknown command '{verb}'", file=sys.stderr)
    return 1
