"""The emulated adb device, through the real adb binary (Debian's 1.0.41) and adbutils."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import pytest

from slm_edge import contract as android
from slm_edge.testing.harness import make_test_apk

pytestmark = pytest.mark.skipif(not (Path("/usr/bin/adb").exists() and Path("/usr/bin/bwrap").exists()),
                                reason="needs adb and bubblewrap")


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def install_app(phone, tmp_path) -> None:
    apk = make_test_apk(tmp_path / "app.apk")
    done = phone.adb("install", str(apk))
    assert "Success" in done.stdout, done.stdout + done.stderr


def scripted_app(phone, tmp_path, run_id: str, **config) -> str:
    """The app installed with the scripted stand-in runner, and a pushed config for `run_id`: its device path."""
    install_app(phone, tmp_path)
    phone.use_scripted_runner()
    return push_scripted_config(phone, tmp_path, run_id, **config)


def instrument(phone, run_id: str, config: str, timeout: float = 60):
    return phone.adb("shell", f"am instrument -w -r -e {android.EXTRA_CONFIG} {config} "
                     f"-e {android.EXTRA_RUN_ID} {run_id} {android.INSTRUMENTATION}", timeout=timeout)


def push_scripted_config(phone, tmp_path, run_id: str, **config) -> str:
    local = tmp_path / f"{run_id}.json"
    local.write_text(json.dumps({"repeats": 3, "scripted_step_s": 0.1, **config}))
    remote = f"{android.DEVICE_ROOT}/runs/{run_id}/run_config.json"
    phone.device.sync.push(str(local), remote)
    return remote


# --- connection and shell -----------------------------------------------------------------------------
def test_adb_devices_lists_the_phone_with_its_model(emulated_phone, adb_server):
    listing = adb_server.run("devices", "-l").stdout
    line = next(line for line in listing.splitlines() if line.startswith(emulated_phone.serial))
    assert " device " in line and "model:sdk_gphone64_x86_64" in line
    assert emulated_phone.device.get_state() == "device"
    assert "shell_v2" in emulated_phone.device.get_features()


def test_shell_v1_and_v2(emulated_phone):
    v2 = emulated_phone.adb("shell", "echo out; echo err >&2; exit 3")
    assert (v2.returncode, v2.stdout, v2.stderr) == (3, "out\n", "err\n")
    piped = emulated_phone.adb("shell", "cat | tr a-z A-Z", input=b"stdin reaches the device\n")
    assert piped.stdout == b"STDIN REACHES THE DEVICE\n"
    device = emulated_phone.device
    assert device.shell("echo merged; echo also >&2") == "merged\nalso"  # v1: one stream, no exit code
    result = device.shell2("echo a; echo b >&2; exit 5", v2=True)
    assert (result.returncode, result.stdout, result.stderr) == (5, "a\n", "b\n")
    assert device.shell2("false").returncode == 1  # v1, with adbutils appending `echo $?`


def test_getprop(emulated_phone):
    device = emulated_phone.device
    assert device.shell("getprop ro.product.cpu.abi") == "x86_64"
    assert device.prop.model == "sdk_gphone64_x86_64"
    listing = device.shell("getprop")
    assert "[ro.build.version.sdk]: [34]" in listing and "[ro.soc.model]: [ranchu]" in listing
    assert device.shell("getprop no.such.key fallback") == "fallback"


def test_the_phone_can_imitate_a_real_capture(adb_server, tmp_path, monkeypatch):
    from slm_edge.device.adb import open_device, parse_getprop as _parse_getprop
    from slm_edge.testing.harness import EmulatedPhone

    capture = Path(__file__).parent / "fixtures" / "android" / "xiaomi-17promax-android16-getprop.txt"
    phone = EmulatedPhone(adb_server, tmp_path / "xiaomi", capture=capture).connect()
    try:
        line = next(line for line in adb_server.run("devices", "-l").stdout.splitlines()
                    if line.startswith(phone.serial))
        assert "model:2509FPN0BC" in line
        monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", str(adb_server.port))
        device = open_device(phone.serial)
        captured = _parse_getprop(capture.read_text())
        props = device.props()
        assert {k: props.get(k) for k in captured} == captured  # the multi-line value included
        info = device.info()
        assert (info["model"], info["abis"], info["os"], info["soc"]) == \
               ("Xiaomi 2509FPN0BC", ["arm64-v8a"], "Android 16 (SDK 36)", "QTI SM8850")
    finally:
        phone.close()


def test_shared_storage_is_laid_out_as_on_a_phone(emulated_phone, tmp_path):
    phone = emulated_phone
    listing = phone.adb("shell", "ls -l /sdcard /storage/self").stdout
    assert "/sdcard -> /storage/self/primary" in listing and "primary -> /storage/emulated/0" in listing
    assert phone.adb("shell", "realpath /sdcard/Download").stdout == "/storage/emulated/0/Download\n"
    marker = tmp_path / "m"
    marker.write_text("m")
    assert phone.adb("push", str(marker), "/sdcard/Download/m").returncode == 0
    assert (phone.root / "storage" / "emulated" / "0" / "Download" / "m").read_text() == "m"  # the real folder
    assert phone.adb("shell", "cat /storage/self/primary/Download/m").stdout == "m"
    assert phone.adb("push", str(marker), "/storage/self/primary2").returncode != 0  # the links are root's
    assert phone.adb("shell", "rm /sdcard").returncode != 0 and (phone.root / "sdcard").is_symlink()
    assert phone.adb("push", str(marker), "/storage/emulated/10/x").returncode != 0  # no such user here


# --- files --------------------------------------------------------------------------------------------
def test_push_pull_stat_list_round_trip(emulated_phone, tmp_path):
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(5 * 1024 * 1024 + 123))
    remote = "/data/local/tmp/slm-edge/big.bin"
    pushed = emulated_phone.adb("push", str(big), remote)
    assert pushed.returncode == 0, pushed.stderr
    assert sha256(emulated_phone.host_path(remote)) == sha256(big)
    assert emulated_phone.adb("shell", f"sha256sum {remote}").stdout.split()[0] == sha256(big)
    back = tmp_path / "back.bin"
    assert emulated_phone.adb("pull", remote, str(back)).returncode == 0
    assert sha256(back) == sha256(big)

    sync = emulated_phone.device.sync
    sync.push(str(big), "/sdcard/Download/again.bin")
    assert sync.stat("/sdcard/Download/again.bin").size == big.stat().st_size
    assert sync.stat("/data/no/such/file").size == 0  # adbd answers a missing file with zeros
    sync.pull("/sdcard/Download/again.bin", str(tmp_path / "again.bin"))
    assert sha256(tmp_path / "again.bin") == sha256(big)
    names = {entry.path for entry in sync.list("/data/local/tmp/slm-edge")}
    assert "big.bin" in names


def test_directory_push_and_pull(emulated_phone, tmp_path):
    source = tmp_path / "model"
    (source / "sub").mkdir(parents=True)
    (source / "a.txt").write_text("a")
    (source / "sub" / "b.bin").write_bytes(os.urandom(70_000))
    # as `cp -r`: into an existing folder it lands as folder/model, else it becomes the folder
    done = emulated_phone.adb("push", str(source), "/data/local/tmp/slm-edge/artifacts")
    assert done.returncode == 0, done.stderr
    landed = emulated_phone.host_path("/data/local/tmp/slm-edge/artifacts/sub/b.bin")
    assert sha256(landed) == sha256(source / "sub" / "b.bin")
    assert emulated_phone.adb("push", str(source), "/data/local/tmp/slm-edge/artifacts").returncode == 0
    assert emulated_phone.host_path("/data/local/tmp/slm-edge/artifacts/model/a.txt").read_text() == "a"
    assert emulated_phone.adb("pull", "/data/local/tmp/slm-edge/artifacts/model", str(tmp_path / "out")).returncode == 0
    assert sha256(tmp_path / "out" / "sub" / "b.bin") == sha256(source / "sub" / "b.bin")


def test_pull_of_a_missing_file_fails(emulated_phone, tmp_path):
    done = emulated_phone.adb("pull", "/sdcard/nothing.json", str(tmp_path / "x"))
    assert done.returncode != 0 and "No such file" in done.stdout + done.stderr  # adb 1.0.41 errors on stdout


def test_nothing_escapes_the_device_folder(emulated_phone, tmp_path):
    marker = tmp_path / "marker"
    marker.write_text("x")
    outside = Path("/tmp") / f"slm-edge-escape-{os.getpid()}"
    phone = emulated_phone
    assert phone.adb("push", str(marker), "/data/x").returncode == 0
    assert (phone.root / "data" / "x").read_text() == "x"
    # `..` stays inside: /data/../../tmp/... is /tmp/... on the device, not writable there
    assert phone.adb("push", str(marker), f"/data/../../..{outside}").returncode != 0
    assert phone.adb("push", str(marker), "/etc/slm-edge-escape").returncode != 0
    assert phone.adb("push", str(marker), "/system/bin/evil").returncode != 0  # /system is read-only
    touched = phone.adb("shell", "touch /etc/slm-edge-escape")
    assert touched.returncode != 0 and "Read-only file system" in touched.stderr
    # a symlink made on the device points into the device's namespace, never the host's /tmp
    assert phone.adb("shell", "ln -s /tmp /data/local/tmp/link").returncode == 0
    assert phone.adb("push", str(marker), f"/data/local/tmp/link/{outside.name}").returncode != 0
    phone.adb("shell", f"touch {outside}")  # the sandbox's /tmp is private
    assert not outside.exists() and not Path("/etc/slm-edge-escape").exists()


# --- packages and the app -------------------------------------------------------------------------------
def test_install_list_dump_and_abi_refusal(emulated_phone, tmp_path):
    phone = emulated_phone
    install_app(phone, tmp_path)  # adb install streams the APK to `cmd package install -S`
    device = phone.device
    assert f"package:{android.PACKAGE} versionCode:1" in device.shell("pm list packages -3 --show-versioncode")
    dump = device.shell(f"dumpsys package {android.PACKAGE}")
    assert "versionName=0.1.0" in dump and "versionCode=1 " in dump
    assert device.shell(f"pm path {android.PACKAGE}").startswith("package:/data/app/")
    # adbutils' own install: push to /data/local/tmp, then `pm install`
    device.install(str(make_test_apk(tmp_path / "v2.apk", version_code=2, version_name="0.2.0")), silent=True)
    assert "versionName=0.2.0" in device.shell(f"dumpsys package {android.PACKAGE}")
    refused = phone.adb("install", str(make_test_apk(tmp_path / "arm.apk", abis=("arm64-v8a",))))
    assert refused.returncode != 0
    assert "INSTALL_FAILED_NO_MATCHING_ABIS" in refused.stdout + refused.stderr
    assert device.shell(f"pm uninstall {android.PACKAGE}") == "Success"
    assert android.PACKAGE not in device.shell("pm list packages")


def test_am_instrument_on_a_missing_app_fails_like_android(emulated_phone):
    done = instrument(emulated_phone, "r1", "/data/local/tmp/nothing.json")
    assert "Unable to find instrumentation info for: ComponentInfo{dev.slmedge.profiler/" \
           "dev.slmedge.profiler.ProfilerInstrumentation}" in done.stdout
    assert "INSTRUMENTATION_FAILED" in done.stderr


def test_am_instrument_runs_the_real_runner_and_reports_its_error(emulated_phone, tmp_path):
    install_app(emulated_phone, tmp_path)
    done = instrument(emulated_phone, "bad", "/data/local/tmp/slm-edge/missing.json")
    assert "INSTRUMENTATION_RESULT: status=failed" in done.stdout
    assert "INSTRUMENTATION_RESULT: error=error: run config not found" in done.stdout
    assert done.stdout.rstrip().endswith("INSTRUMENTATION_CODE: 0")
    assert "run config not found" in emulated_phone.adb("logcat", "-d").stdout


def test_am_instrument_streams_status_and_result(emulated_phone, tmp_path):
    phone = emulated_phone
    config = scripted_app(phone, tmp_path, "ok", scripted_step_s=0.05)
    done = instrument(phone, "ok", config)
    assert done.stdout.count("INSTRUMENTATION_STATUS_CODE: 1") == 4  # load + 3 repeats
    assert "INSTRUMENTATION_STATUS: phase=run\nINSTRUMENTATION_STATUS: run=2" in done.stdout
    trace = next(line.split("=", 1)[1] for line in done.stdout.splitlines() if line.startswith("INSTRUMENTATION_RESULT: trace="))
    # the app's own external files dir, whatever form it names it in (getExternalFilesDir: /storage/emulated/0/...)
    assert trace.startswith("/storage/emulated/0/"), trace  # getExternalFilesDir's form, never /sdcard
    assert phone.adb("shell", f"realpath {trace}").stdout.strip() == \
        f"/storage/emulated/0/Android/data/{android.PACKAGE}/files/runs/ok/trace.json"
    assert done.stdout.rstrip().endswith("INSTRUMENTATION_CODE: -1")
    pulled = tmp_path / "trace.json"
    phone.device.sync.pull(trace, str(pulled))
    assert f"trace_sha256={sha256(pulled)}" in done.stdout
    assert json.loads(pulled.read_text())["status"] == "complete"


def test_dumpsys_services(emulated_phone):
    phone = emulated_phone
    phone.set_sensors(thermal_status=2)
    assert "Thermal Status: 2" in phone.device.shell("dumpsys thermalservice")
    assert "level: 85" in phone.device.shell("dumpsys battery")
    assert "No process found" in phone.device.shell(f"dumpsys meminfo {android.PACKAGE}")


# --- faults ---------------------------------------------------------------------------------------------
def test_unauthorized_device(emulated_phone):
    emulated_phone.set_faults(require_auth=True)
    emulated_phone.reconnect(state="unauthorized")
    emulated_phone.set_faults(require_auth=None)
    emulated_phone.reconnect()


def test_drop_during_push_then_retry(emulated_phone, tmp_path):
    phone = emulated_phone
    payload = tmp_path / "payload.bin"
    payload.write_bytes(os.urandom(1024 * 1024))
    phone.set_faults(drop_push_after_bytes=300_000)
    assert phone.adb("push", str(payload), "/data/local/tmp/p.bin").returncode != 0
    assert "drop_push_after_bytes" not in phone.faults()  # one-shot
    assert phone.host_path("/data/local/tmp/p.bin").stat().st_size < payload.stat().st_size
    phone.wait_for_state()
    assert phone.adb("push", str(payload), "/data/local/tmp/p.bin").returncode == 0
    assert sha256(phone.host_path("/data/local/tmp/p.bin")) == sha256(payload)


def test_drop_during_pull(emulated_phone, tmp_path):
    phone = emulated_phone
    phone.host_path("/sdcard/f.bin").write_bytes(os.urandom(1024 * 1024))
    phone.set_faults(drop_pull_after_bytes=200_000)
    assert phone.adb("pull", "/sdcard/f.bin", str(tmp_path / "f.bin")).returncode != 0
    phone.wait_for_state()
    assert phone.adb("pull", "/sdcard/f.bin", str(tmp_path / "f.bin")).returncode == 0


def test_storage_limit(emulated_phone, tmp_path):
    phone = emulated_phone
    phone.set_faults(storage_bytes=1024 * 1024)
    payload = tmp_path / "big.bin"
    payload.write_bytes(os.urandom(2 * 1024 * 1024))
    done = phone.adb("push", str(payload), "/data/local/tmp/big.bin")
    assert done.returncode != 0 and "No space left on device" in done.stdout + done.stderr
    assert not phone.host_path("/data/local/tmp/big.bin").exists()
    df = phone.device.shell("df /data").splitlines()
    assert df[1].split()[1] == "1024" and df[1].split()[-1] == "/data"


def test_drop_during_instrument_leaves_the_app_running(emulated_phone, tmp_path):
    phone = emulated_phone
    config = scripted_app(phone, tmp_path, "drop", repeats=6, scripted_step_s=0.2)
    phone.set_faults(drop_instrument_after_status=2)
    done = instrument(phone, "drop", config)
    assert done.stdout.count("INSTRUMENTATION_STATUS_CODE") >= 2 and "INSTRUMENTATION_CODE" not in done.stdout
    phone.wait_for_state()
    assert "TOTAL PSS:" in phone.device.shell(f"dumpsys meminfo {android.PACKAGE}")  # still running
    trace = phone.host_path(f"{android.trace_dir('drop')}/trace.json")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not (trace.exists() and json.loads(trace.read_text())["status"] == "complete"):
        time.sleep(0.1)
    assert json.loads(trace.read_text())["status"] == "complete"


def test_crash_at_a_phase(emulated_phone, tmp_path):
    phone = emulated_phone
    config = scripted_app(phone, tmp_path, "crash")
    phone.set_faults(crash_at_phase="run")
    done = instrument(phone, "crash", config)
    assert "INSTRUMENTATION_RESULT: shortMsg=Process crashed." in done.stdout
    assert done.stdout.rstrip().endswith("INSTRUMENTATION_CODE: 0")
    assert "Fatal signal 9" in phone.adb("logcat", "-d").stdout


def test_hang_then_force_stop(emulated_phone, tmp_path):
    phone = emulated_phone
    config = scripted_app(phone, tmp_path, "hang")
    phone.set_faults(hang_at_phase="load")
    assert phone.adb("shell", f"am start -n {android.ACTIVITY} -e config {config} -e run_id hang").returncode == 0
    time.sleep(1.0)
    trace = phone.host_path(f"{android.trace_dir('hang')}/trace.json")
    assert not trace.exists()  # stuck in load: no repeat ever finished
    assert "TOTAL PSS:" in phone.device.shell(f"dumpsys meminfo {android.PACKAGE}")
    phone.device.shell(f"am force-stop {android.PACKAGE}")
    deadline = time.monotonic() + 5
    while "No process found" not in phone.device.shell(f"dumpsys meminfo {android.PACKAGE}"):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert "Force stopping dev.slmedge.profiler" in phone.device.shell("logcat -d -t 5")


def test_corrupt_trace_after_the_run(emulated_phone, tmp_path):
    phone = emulated_phone
    config = scripted_app(phone, tmp_path, "bad-trace", repeats=1, scripted_step_s=0.01)
    phone.set_faults(corrupt_trace="truncate")
    done = instrument(phone, "bad-trace", config)
    reported = next(line.split("=", 1)[1] for line in done.stdout.splitlines() if "trace_sha256=" in line)
    pulled = tmp_path / "trace.json"
    phone.device.sync.pull(f"{android.trace_dir('bad-trace')}/trace.json", str(pulled))
    assert sha256(pulled) != reported.strip()


def test_restart_drops_connections_and_comes_back(emulated_phone):
    emulated_phone.restart()
    assert emulated_phone.device.shell("echo back") == "back"
