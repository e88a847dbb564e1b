"""pm (and `cmd package`) on the emulated phone: install, list, path, uninstall, dump."""

from __future__ import annotations

import io
import json
import secrets
import subprocess
import sys
import time
import zipfile
from pathlib import Path

from slm_edge import contract as android
from slm_edge.testing.android_commands.dumpsys import dumpsys
from slm_edge.testing.android_commands.state import STATE, device_abis, log, packages, write_state
from slm_edge.testing.app_process import kill_app_processes

SYSTEM_PACKAGES = {"android": 34, "com.android.shell": 34, "com.android.settings": 34}


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
