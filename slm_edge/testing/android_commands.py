"""Android's shell commands on the emulated phone, run inside its sandbox by the small scripts in
/system/bin: getprop, setprop, pm (and `cmd package`), dumpsys, am, logcat, df. Their output
follows what a phone prints, because the host side parses it.

    python -m slm_edge.testing.android_commands COMMAND ARGS...
"""

from __future__ import annotations

import io
import json
import os
import secrets
import shlex
import subprocess
import sys
import time
import zipfile
import zlib
from pathlib import Path

from slm_edge import contract as android
from slm_edge.testing.app_process import (RESULT_PREFIX, children, is_alive, kill_app_processes, running_app,
                                          write_app)
from slm_edge.testing.device_folder import append_log, used_bytes
from slm_edge.testing.faults import take_fault

STATE = Path(os.environ.get("SLM_EDGE_DEVICE_STATE", "/emulator"))
SYSTEM_PACKAGES = {"android": 34, "com.android.shell": 34, "com.android.settings": 34}
DEFAULT_SENSORS = {"battery_level": 85, "battery_temperature": 291, "usb_powered": True, "thermal_status": 0}


def read_state(name: str, default):
    try:
        return json.loads((STATE / name).read_text())
    except (FileNotFoundError, ValueError):
        return default


def write_state(name: str, value) -> None:
    tmp = STATE / f".{name}.tmp"
    tmp.write_text(json.dumps(value, indent=1))
    os.replace(tmp, STATE / name)


def log(tag: str, message: str, level: str = "I") -> None:
    append_log(STATE, tag, message, level)


def external_files_dir(package: str) -> str:
    """What the app's Context.getExternalFilesDir(null) returns: /storage/emulated/<user>/Android/
    data/<pkg>/files for the user it runs as (AOSP Environment.UserEnvironment), never /sdcard.
    The user is the one `pm install --user N` installed it for (0 by default)."""
    user = int(packages().get(package, {}).get("user", 0))
    return f"/storage/emulated/{user}/Android/data/{package}/files"


# --- getprop / setprop ----------------------------------------------------------------------------
def getprop(args: list[str]) -> int:
    # `[name]: [value]`, sorted by name, values raw (multi-line ones too), as in the getprop
    # captures of tests/fixtures/android (Xiaomi 17 Pro Max Android 16, OnePlus 11 Android 13)
    props = read_state("props.json", {})
    if not args:
        for key in sorted(props):
            print(f"[{key}]: [{props[key]}]")
    else:
        print(props.get(args[0], args[1] if len(args) > 1 else ""))
    return 0


def setprop(args: list[str]) -> int:
    if len(args) != 2:
        print("usage: setprop NAME VALUE", file=sys.stderr)
        return 1
    if args[0].startswith("ro."):
        print(f"Failed to set property '{args[0]}' to '{args[1]}'.", file=sys.stderr)
        return 1
    props = read_state("props.json", {})
    props[args[0]] = args[1]
    write_state("props.json", props)
    return 0


# --- pm ------------------------------------------------------------------------------------------
def device_abis() -> list[str]:
    return [abi for abi in read_state("props.json", {}).get("ro.product.cpu.abilist", "").split(",") if abi]


def packages() -> dict:
    return read_state("packages.json", {})


def _read_apk(data: bytes, source: str) -> tuple[dict | None, str | None]:
    """(app info, None) or (None, Android's failure text) for an APK's bytes."""
    try:
        apk = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        return None, f"INSTALL_PARSE_FAILED_NOT_APK: Failed to parse {source}: not a zip archive"
    try:
        info = json.loads(apk.read(android.APP_INFO_ASSET))
        package, version_code = info["package"], int(info["version_code"])
    except (KeyError, ValueError):
        return None, (f"INSTALL_PARSE_FAILED_MANIFEST_MALFORMED: Failed to parse {source}: the emulated device reads "
                      f"the package from {android.APP_INFO_ASSET}, which is missing or lacks package/version_code")
    lib_abis = sorted({name.split("/")[1] for name in apk.namelist() if name.startswith("lib/") and name.count("/") >= 2})
    # the whole asset is kept: the app answers its identity query with it
    return {"package": package, "version_code": version_code, "version_name": str(info.get("version_name", "")),
            "lib_abis": lib_abis, "asset": info}, None


def pm_install(args: list[str]) -> int:
    flags = set()
    size = None
    path = None
    user = 0
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "-S":
            size = int(args[index + 1])
            index += 1
        elif arg == "--user":
            user = 0 if args[index + 1] in ("all", "current") else int(args[index + 1])
            index += 1
        elif arg.startswith("-"):
            flags.add(arg)
            if arg in ("-i", "--user", "--install-reason", "--abi", "-p"):
                index += 1
        else:
            path = arg
        index += 1
    if size is not None:
        data = sys.stdin.buffer.read(size)
        source = "/data/app/vmdl.tmp/base.apk"
    elif path:
        try:
            data = Path(path).read_bytes()
        except OSError as err:
            print(f"Error: Unable to open file: {path}\nConsider using a file under /data/local/tmp/\n"
                  f"Exception occurred while executing 'install': {err.strerror}", file=sys.stderr)
            return 1
        source = path
    else:
        print("Error: must either specify a package size or an APK file", file=sys.stderr)
        return 1
    info, failure = _read_apk(data, source)
    if failure is None:
        failure = _install_failure(info, flags)
    if failure:
        print(f"Failure [{failure}]")
        return 1
    installed = packages()
    old = installed.get(info["package"])
    if old:
        (Path(old["path"])).unlink(missing_ok=True)
    folder = Path("/data/app") / f"~~{secrets.token_urlsafe(8)}" / f"{info['package']}-{secrets.token_urlsafe(8)}"
    folder.mkdir(parents=True)
    (folder / "base.apk").write_bytes(data)
    abis = [abi for abi in device_abis() if abi in info["lib_abis"]]
    installed[info["package"]] = {**info, "path": str(folder / "base.apk"), "primary_abi": abis[0] if abis else None,
                                  "installed_at": time.time(), "user": user}
    write_state("packages.json", installed)
    log("PackageManager", f"Installed {info['package']} versionCode={info['version_code']}")
    print("Success")
    return 0


def _install_failure(info: dict, flags: set[str]) -> str | None:
    if info["lib_abis"] and not set(info["lib_abis"]) & set(device_abis()):
        return "INSTALL_FAILED_NO_MATCHING_ABIS: Failed to extract native libraries, res=-113"
    old = packages().get(info["package"])
    if old and info["version_code"] < old["version_code"] and "-d" not in flags:
        return (f"INSTALL_FAILED_VERSION_DOWNGRADE: Downgrade detected: Update version code {info['version_code']} "
                f"is older than current {old['version_code']}")
    return None


def pm(args: list[str]) -> int:
    if not args:
        print("usage: pm [list|path|install|uninstall|dump] ...", file=sys.stderr)
        return 1
    verb, rest = args[0], args[1:]
    installed = packages()
    if verb == "install":
        return pm_install(rest)
    if verb == "list" and rest[:1] == ["packages"]:
        options = [a for a in rest[1:] if a.startswith("-")]
        filters = [a for a in rest[1:] if not a.startswith("-")]
        names = {name: info["version_code"] for name, info in installed.items()}
        if "-3" not in options:
            names.update(SYSTEM_PACKAGES)
        for name in sorted(names):
            if filters and filters[0] not in name:
                continue
            print(f"package:{name}" + (f" versionCode:{names[name]}" if "--show-versioncode" in options else ""))
        return 0
    if verb == "path":
        if rest and rest[-1] in installed:
            print(f"package:{installed[rest[-1]]['path']}")
            return 0
        return 1
    if verb == "uninstall":
        name = rest[-1] if rest else ""
        if name not in installed:
            print("Failure [DELETE_FAILED_INTERNAL_ERROR]")
            return 1
        kill_app_processes(STATE, name)
        info = installed.pop(name)
        write_state("packages.json", installed)
        Path(info["path"]).unlink(missing_ok=True)
        app_dirs = [str(d) for d in Path("/storage/emulated").glob(f"*/Android/data/{name}")]
        subprocess.run(["rm", "-rf", str(Path(info["path"]).parent), *app_dirs], check=False)
        print("Success")
        return 0
    if verb == "dump":
        return dumpsys(["package", *rest])
    print(f"Unknown command: {verb}", file=sys.stderr)
    return 1


def cmd(args: list[str]) -> int:
    if args[:1] == ["package"]:
        return pm(args[1:])
    print(f"cmd: Can't find service: {args[0] if args else ''}", file=sys.stderr)
    return 20


# --- dumpsys -------------------------------------------------------------------------------------
# Each layout follows a real capture in tests/fixtures/android (sources in SOURCES.json); the host's
# parsers are tested on those captures too (tests/test_device_captures.py).
def _hex(name: str) -> str:
    return f"{zlib.crc32(name.encode()) & 0xFFFFFFF:07x}"


def dumpsys(args: list[str]) -> int:
    service, rest = (args[0], args[1:]) if args else ("", [])
    sensors = {**DEFAULT_SENSORS, **read_state("sensors.json", {})}
    if service == "package":
        name = rest[0] if rest else ""
        info = packages().get(name)
        if info is None:
            print(f"Unable to find package: {name}")
            return 0
        # layout: emulator-x86-androidNA-dumpsys-package.txt (Android 11+ /data/app/~~ code paths)
        code_path = Path(info["path"]).parent
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info["installed_at"]))
        print(f"Packages:\n  Package [{name}] ({_hex(name)}):\n    userId=10123\n"
              f"    pkg=Package{{{_hex(name + 'pkg')} {name}}}\n    codePath={code_path}\n    resourcePath={code_path}\n"
              f"    legacyNativeLibraryDir={code_path}/lib\n    primaryCpuAbi={info['primary_abi']}\n"
              f"    secondaryCpuAbi=null\n    versionCode={info['version_code']} minSdk=29 targetSdk=36\n"
              f"    versionName={info['version_name']}\n    splits=[base]\n    apkSigningVersion=2\n"
              f"    dataDir=/data/user/{info.get('user', 0)}/{name}\n    timeStamp={stamp}\n"
              f"    firstInstallTime={stamp}\n    lastUpdateTime={stamp}\n"
              f"    User {info.get('user', 0)}: ceDataInode=131619 installed=true hidden=false suspended=false "
              f"distractionFlags=0 stopped=false notLaunched=false enabled=0 instant=false virtual=false")
        return 0
    if service == "battery":
        # layout: google-pixelc-androidNA-dumpsys-battery.txt (AOSP BatteryService, no vendor lines)
        print(f"Current Battery Service state:\n  AC powered: false\n  USB powered: {str(sensors['usb_powered']).lower()}\n"
              f"  Wireless powered: false\n  Max charging current: {500000 if sensors['usb_powered'] else 0}\n"
              f"  Max charging voltage: {5000000 if sensors['usb_powered'] else 0}\n  Charge counter: 2967000\n"
              f"  status: {2 if sensors['usb_powered'] else 3}\n  health: 2\n  present: true\n"
              f"  level: {sensors['battery_level']}\n  scale: 100\n  voltage: 4123\n"
              f"  temperature: {sensors['battery_temperature']}\n  technology: Li-ion")
        return 0
    if service == "thermalservice":
        if int(read_state("props.json", {}).get("ro.build.version.sdk") or 0) < 29:
            print(f"Can't find service: {service}")  # ThermalManagerService came with Android 10
            return 0
        # layout: unknown-octacore-androidNA-dumpsys-thermalservice.txt (tab-indented, as dumpsys prints it)
        temp = sensors["battery_temperature"] / 10
        print(f"IsStatusOverride: false\nThermalEventListeners:\n\tcallbacks: 1\n\tkilled: false\n"
              f"\tbroadcasts count: -1\nThermalStatusListeners:\n\tcallbacks: 1\n\tkilled: false\n"
              f"\tbroadcasts count: -1\nThermal Status: {sensors['thermal_status']}\nCached temperatures:\n"
              f"\tTemperature{{mValue={temp:.1f}, mType=2, mName=battery, mStatus=0}}\n"
              f"HAL Ready: true\nHAL connection:\n\tThermalHAL 2.0 connected: yes\nCurrent temperatures from HAL:\n"
              f"\tTemperature{{mValue={temp:.1f}, mType=2, mName=battery, mStatus=0}}")
        return 0
    if service == "meminfo":
        return _meminfo(rest)
    print(f"Can't find service: {service}")
    return 0


def _pss_kb(pid: int) -> tuple[int, int]:
    values = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            for line in rollup:
                parts = line.split()
                if len(parts) >= 2 and parts[0] in ("Pss:", "Rss:"):
                    values[parts[0]] = int(parts[1])
    except OSError:
        pass
    return values.get("Pss:", 0), values.get("Rss:", 0)


def _meminfo(args: list[str]) -> int:
    name = next((a for a in args if not a.startswith("-")), "")
    app = running_app(STATE)
    if not app or app["package"] != name:
        print(f"No process found for: {name}")
        return 0
    runners = [child for child in children(app["pid"]) if is_alive(child)]
    pid = runners[0] if runners else app["pid"]
    pss, rss = _pss_kb(pid)
    uptime = int(time.monotonic() * 1000)
    # layout: google-pixel2-android11-dumpsys-meminfo.txt; only totals are known here, so the whole
    # process counts as Native Heap (the table's TOTAL equals TOTAL PSS, as on the phone)
    print(f"Applications Memory Usage (in Kilobytes):\nUptime: {uptime} Realtime: {uptime}\n\n"
          f"** MEMINFO in pid {pid} [{name}] **\n"
          f"                   Pss  Private  Private  SwapPss      Rss     Heap     Heap     Heap\n"
          f"                 Total    Dirty    Clean    Dirty    Total     Size    Alloc     Free\n"
          f"                ------   ------   ------   ------   ------   ------   ------   ------\n"
          f"  Native Heap {pss:8d} {pss:8d}        0        0 {rss:8d}        0        0        0\n"
          f"        TOTAL {pss:8d} {pss:8d}        0        0 {rss:8d}        0        0        0\n\n"
          f" App Summary\n                       Pss(KB)                        Rss(KB)\n"
          f"                        ------                         ------\n"
          f"         Native Heap: {pss:8d}                       {rss:8d}\n\n"
          f"           TOTAL PSS: {pss:8d}            TOTAL RSS: {rss:8d}       TOTAL SWAP PSS:        0")
    return 0


# --- am ------------------------------------------------------------------------------------------
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


def _instrumentation_failed(component: str) -> int:
    package, cls = _full_component(component)
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
        return _instrumentation_failed(component)
    info = packages()[package]
    if extras.get(android.EXTRA_QUERY) == android.QUERY_IDENTITY and \
            info["version_code"] >= android.MIN_IDENTITY_VERSION_CODE:  # an older app has no query: it would run
        # every instrumentation restarts the app: ActivityManagerService.startInstrumentation calls
        # forceStopPackageLocked(..., "start instr") first, so a query ends a running profile too
        kill_app_processes(STATE, package)
        return _answer_identity(info)
    app, events = _launch_app(package, extras)
    if "-w" not in flags:
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


# --- logcat / df ----------------------------------------------------------------------------------
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


COMMANDS = {"getprop": getprop, "setprop": setprop, "pm": pm, "cmd": cmd, "dumpsys": dumpsys, "am": am,
            "logcat": logcat, "df": df}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in COMMANDS:
        print(f"usage: python -m slm_edge.testing.android_commands {{{','.join(COMMANDS)}}} ARGS...", file=sys.stderr)
        return 2
    try:
        return COMMANDS[argv[0]](argv[1:])
    except (IndexError, ValueError) as err:
        print(f"{argv[0]}: bad arguments {shlex.join(argv[1:])}: {err}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 141


if __name__ == "__main__":
    sys.exit(main())
