"""`slm-edge devices` and `slm-edge app install`: the phones adb sees, and the profiler app on them."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from slm_edge.cli.output import console, emit, results
from slm_edge.errors import SlmEdgeError


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def devices(as_json):
    """Devices adb sees: model, SoC/ABI, Android version, RAM, battery, thermal status, profiler app."""
    from slm_edge.device.adb import AdbDevice, adb_client, list_devices, state_problem
    from slm_edge.device.detached import detached_run_on
    from slm_edge.device.lock import DeviceBusy, device_lock

    client = adb_client()
    rows = []
    for serial, state in list_devices(client):
        row = {"serial": serial, "state": state}
        problem = state_problem(serial, state)
        if problem:
            row["problem"] = problem.one_line(cli=True)
        else:
            device = AdbDevice(client, serial)
            try:
                try:
                    with device_lock(serial, 0):
                        detached = detached_run_on(device)
                        row.update(device.info(ask_app=not detached))
                        if detached:  # the identity query would restart the app and end the run
                            row["app_note"] = f"a detached run is going ({detached}): the app was not asked"
                except DeviceBusy:  # asking the app would stop the profile that holds the device
                    row.update(device.info(ask_app=False), app_note="a profile is running: the app was not asked")
            except SlmEdgeError as err:
                row["problem"] = err.one_line(cli=True)
        rows.append(row)
    emit(rows, as_json, lambda: _print_devices(rows))


def _print_devices(rows: list[dict]) -> None:
    if not rows:
        console.print("no devices: plug a phone in with USB debugging on, or `adb connect HOST:PORT`")
        return
    table = Table("serial", "state", "model", "SoC / ABI", "Android", "RAM", "battery", "thermal", "profiler app",
                  "app runtimes")
    for row in rows:
        app = row.get("app")
        battery = f"{row['battery_level']}%" if row.get("battery_level") is not None else "-"
        thermal = row.get("thermal_status")
        table.add_row(row["serial"], row["state"], row.get("model", "-"),
                      f"{row.get('soc') or row.get('cpu', '-')} / {','.join(row.get('abis', [])) or '-'}",
                      row.get("os", "-"), f"{row['ram_bytes'] / 2**30:.1f} GiB" if row.get("ram_bytes") else "-", battery,
                      "-" if thermal is None else str(thermal),
                      f"{app['version_name']} ({app['version_code']})" if app else ("not installed" if "app" in row else "-"),
                      _app_runtimes(app))
    results.print(table)
    for row in rows:
        if row.get("problem"):
            console.print(f"[yellow]{row['serial']}:[/yellow] {row['problem']}", highlight=False)


def _app_runtimes(app: dict | None) -> str:
    """What the installed app states it runs (its identity asset): 'executorch 1.5.1, onnxruntime 1.29.0'."""
    if not app:
        return "-"
    if app.get("identity_error"):
        return app["identity_error"]
    runtimes = app.get("runtimes")
    if not runtimes:
        return "not stated (app too old to say)"
    return ", ".join(f"{name} {version}" for name, version in sorted(runtimes.items()))


@click.group()
def app():
    """The bundled Android profiler app (android_app/)."""


@app.command("install")
@click.option("--device", "serial", help="adb serial [default: the only connected device].")
@click.option("--apk", type=click.Path(path_type=Path), help="APK to install [default: the one built from android_app/].")
def app_install(serial, apk):
    """Install the profiler app; refuses an APK without native code for the device's ABI."""
    from slm_edge.device.adb import open_device
    from slm_edge.device.apk import find_built_apk
    from slm_edge.device.detached import check_no_detached_run

    apk = apk or find_built_apk(Path(__file__).resolve().parents[2])
    device = open_device(serial)
    check_no_detached_run(device)  # pm install -r stops the running app
    with console.status(f"installing {apk.name} on {device.serial}…"):
        installed = device.install(apk)
    console.print(f"installed {installed['package']} {installed['version_name']} (code {installed['version_code']}) "
                  f"on {device.serial}")
