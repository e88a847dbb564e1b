"""dumpsys on the emulated phone: package, battery, thermalservice, meminfo."""

from __future__ import annotations

import time
import zlib
from pathlib import Path

from slm_edge.testing.android_commands.state import STATE, packages, read_state
from slm_edge.testing.app_process import children, is_alive, running_app

DEFAULT_SENSORS = {"battery_level": 85, "battery_temperature": 291, "usb_powered": True, "thermal_status": 0}


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
