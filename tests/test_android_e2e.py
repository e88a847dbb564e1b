"""`slm-edge devices`, `app install` and `profile --device` end to end: the real adb server (Debian's
adb) and adbutils against the emulated device (slm_edge/testing), the Linux runner standing in for
the app behind the same `am instrument` contract; then the faults a phone brings."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from slm_edge.device.adb import transfer as adb_module
from slm_edge.device.adb import open_device
from slm_edge.contract import DEVICE_ROOT, PACKAGE, trace_dir
from slm_edge.errors import SlmEdgeError
from slm_edge.workflows.profile import ProfileOptions, profile_artifact
from slm_edge.testing.harness import TEST_APK_RUNTIMES, make_test_apk
from slm_edge.records.trace import Trace

from helpers import page_charts, run_cli

QUICK = ["--prompt-lengths", "8,16", "--decode-tokens", "8", "--repeats", "2", "--warmup", "1", "--threads", "1"]


@pytest.fixture(scope="module")
def tiny_onnx(tiny_llama_onnx, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("e2e") / "tiny onnx; $(touch PWNED) 'q'"  # odd characters travel safely
    shutil.copytree(tiny_llama_onnx, out)
    return out


@pytest.fixture
def phone(emulated_phone, monkeypatch, tmp_path):
    """The emulated phone with the profiler app installed; in-process calls use its adb server."""
    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", str(emulated_phone.adb_port))
    result = cli("app", "install", "--device", emulated_phone.serial, "--apk",
                 make_test_apk(tmp_path / "app.apk", abis=("arm64-v8a", "x86_64"), version_code=2), phone=emulated_phone)
    assert result.returncode == 0, result.stderr
    return emulated_phone


def cli(*args, phone):
    return run_cli(*args, env={**os.environ, "ANDROID_ADB_SERVER_PORT": str(phone.adb_port)}, timeout=600)


def quick_options(**overrides) -> ProfileOptions:
    return ProfileOptions(**{"prompt_lengths": [8, 16], "decode_tokens": 8, "repeats": 2, "warmup": 1, "threads": [1],
                             "timeout_s": 120.0, **overrides})


def leftovers(phone) -> list[str]:
    """Files a run left on the device (the artifact cache aside)."""
    found = []
    for folder in (f"{DEVICE_ROOT}/runs", trace_dir("x").rsplit("/", 1)[0]):
        path = phone.host_path(folder)
        if path.exists():
            found += [str(p.relative_to(path)) for p in path.rglob("*") if p.is_file()]
    return found


def test_devices_lists_the_phone_and_its_app(emulated_phone, tmp_path):
    before = json.loads(cli("devices", "--json", phone=emulated_phone).stdout)
    assert [(d["serial"], d["state"], d["app"]) for d in before] == [(emulated_phone.serial, "device", None)]
    assert before[0]["abis"][0] == "x86_64" and before[0]["ram_bytes"] > 0 and before[0]["os"].startswith("Android")
    installed = cli("app", "install", "--device", emulated_phone.serial, "--apk",
                    make_test_apk(tmp_path / "app.apk", version_code=7, version_name="0.7"), phone=emulated_phone)
    assert installed.returncode == 0 and "code 7" in installed.stdout + installed.stderr
    after = json.loads(cli("devices", "--json", phone=emulated_phone).stdout)[0]
    assert after["app"]["version_code"] == 7 and after["battery_level"] is not None and "thermal_status" in after
    # the app's own answer to the identity query (its APK asset), next to the package manager's facts
    assert after["app"]["runtimes"] == TEST_APK_RUNTIMES
    assert after["app"]["features"] == {"executorch_etdump": False, "onnx_shared_kv": True, "eval_mode": True,
                                        "unplug_wait": True, "thread_cores": True, "cpu_affinity": True}
    table = cli("devices", phone=emulated_phone)
    assert emulated_phone.serial in table.stdout and "0.7 (7)" in table.stdout
    assert f"executorch {TEST_APK_RUNTIMES['executorch']}, onnxruntime {TEST_APK_RUNTIMES['onnxruntime']}" in table.stdout


def test_an_app_without_the_identity_query_is_not_asked(emulated_phone, tmp_path, monkeypatch):
    """Version code 1 has no query (an `am instrument` would start a run): its dumpsys facts only."""
    cli("app", "install", "--device", emulated_phone.serial, "--apk", make_test_apk(tmp_path / "v1.apk", version_code=1),
        phone=emulated_phone)
    listed = json.loads(cli("devices", "--json", phone=emulated_phone).stdout)[0]
    assert listed["app"] == {"package": PACKAGE, "version_name": "0.1.0", "version_code": 1}
    assert "for instrumentation" not in emulated_phone.logcat()  # the app was never started
    assert "not stated" in cli("devices", phone=emulated_phone).stdout
    newer = make_test_apk(tmp_path / "v3.apk", version_code=3, runtimes={"executorch": "1.4.1"},
                          features={"executorch_etdump": True})
    cli("app", "install", "--device", emulated_phone.serial, "--apk", newer, phone=emulated_phone)
    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", str(emulated_phone.adb_port))
    app = open_device(emulated_phone.serial).app_identity()
    assert app["runtimes"] == {"executorch": "1.4.1", "onnxruntime": "1.29.0"} and app["features"]["executorch_etdump"]


def test_app_install_refuses_an_abi_the_apk_does_not_ship(emulated_phone, tmp_path):
    result = cli("app", "install", "--device", emulated_phone.serial, "--apk",
                 make_test_apk(tmp_path / "arm.apk", abis=("arm64-v8a",)), phone=emulated_phone)
    assert result.returncode == 2 and "ships native code for arm64-v8a" in result.stderr and "x86_64" in result.stderr
    assert json.loads(cli("devices", "--json", phone=emulated_phone).stdout)[0]["app"] is None


@pytest.mark.parametrize("backend", ["onnx", "executorch"])
def test_profile_over_adb_end_to_end(backend, phone, tiny_onnx, tiny_llama_pte, tmp_path):
    artifact = tiny_onnx if backend == "onnx" else tiny_llama_pte
    result = cli("profile", artifact, "--device", phone.serial, *QUICK, "--out", tmp_path / "run", phone=phone)
    assert result.returncode == 0, result.stderr
    trace = Trace.load(tmp_path / "run" / "trace.json")
    assert trace.status == "complete" and len(trace.runs) == 2 * (1 + 2)
    assert all(len(r["decode_step_us"]) == 8 and r["prefill_ms"] > 0 for r in trace.runs)
    host = trace.host
    assert host.device["serial"] == phone.serial and host.device["app"]["version_code"] == 2
    assert host.context_samples and host.context_samples[0]["battery_level"] is not None
    assert all(host.pushed.values())
    assert (tmp_path / "run" / "report.html").is_file() and (tmp_path / "run" / "instrument.txt").is_file()
    assert "INSTRUMENTATION_CODE: -1" in (tmp_path / "run" / "instrument.txt").read_text()
    assert leftovers(phone) == []  # run files cleaned up without --keep
    if backend == "onnx":  # written by the app's own Java loop and TraceWriter, on the real onnxruntime
        assert trace.producer.name == "slm-edge-profiler-core", trace.producer
        assert "OrtEngine" in trace.software["engine_implementation"]
        assert "share one max-length buffer" in trace.software["runtime"]
    else:  # no desktop ExecuTorch Java runtime: the Linux runner, and the trace says so
        assert trace.producer.name == "slm_edge.runner"
        assert "no desktop ExecuTorch Java runtime" in trace.software["runner_note"]

    # again: every artifact file is on the device with the same hash, so nothing is pushed
    again = cli("profile", artifact, "--device", phone.serial, *QUICK, "--keep", "--out", tmp_path / "again", phone=phone)
    assert again.returncode == 0, again.stderr
    assert not any(Trace.load(tmp_path / "again" / "trace.json").host.pushed.values())
    assert leftovers(phone)  # --keep leaves the run's files

    # the same report as on the emulated (local) device: same rows, same columns
    local = cli("profile", artifact, "--emulated", *QUICK, "--out", tmp_path / "local", phone=phone)
    assert local.returncode == 0, local.stderr
    rows = [json.loads((tmp_path / d / "report.json").read_text())["rows"] for d in ("run", "local")]
    assert [(r["prompt_length"], r["threads"], sorted(r)) for r in rows[0]] == \
           [(r["prompt_length"], r["threads"], sorted(r)) for r in rows[1]]


def test_device_problems_are_named_with_the_fix(emulated_phone, tiny_onnx, tmp_path):
    missing = cli("profile", tiny_onnx, "--device", "127.0.0.1:1", *QUICK, phone=emulated_phone)
    assert missing.returncode == 2 and "no device 127.0.0.1:1" in missing.stderr and "adb connect" in missing.stderr
    no_app = cli("profile", tiny_onnx, "--device", emulated_phone.serial, *QUICK, "--out", tmp_path / "r", phone=emulated_phone)
    assert no_app.returncode == 2 and "is not installed" in no_app.stderr and "slm-edge app install" in no_app.stderr
    assert not emulated_phone.host_path(DEVICE_ROOT).exists()  # refused before anything was pushed
    cli("app", "install", "--device", emulated_phone.serial, "--apk",
        make_test_apk(tmp_path / "old.apk", version_code=0, version_name="0.0.1"), phone=emulated_phone)
    too_old = cli("profile", tiny_onnx, "--device", emulated_phone.serial, *QUICK, "--out", tmp_path / "o", phone=emulated_phone)
    assert too_old.returncode == 2 and "version 0.0.1 (code 0)" in too_old.stderr and "to update it" in too_old.stderr
    emulated_phone.set_faults(require_auth=True)
    emulated_phone.reconnect(state="unauthorized")
    refused = cli("profile", tiny_onnx, "--device", emulated_phone.serial, *QUICK, phone=emulated_phone)
    assert refused.returncode == 2 and "has not authorized" in refused.stderr and "Allow USB debugging" in refused.stderr
    emulated_phone.adbd.stop()  # the phone goes away; adb keeps it listed as offline for a while
    emulated_phone.wait_for_state("offline")
    offline = cli("profile", tiny_onnx, "--device", emulated_phone.serial, *QUICK, phone=emulated_phone)
    assert offline.returncode == 2 and "is offline" in offline.stderr and "adb connect" in offline.stderr
    for result in (missing, no_app, too_old, refused, offline):
        assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) <= 2


def test_not_enough_storage_is_refused_before_pushing(phone, tiny_onnx, tmp_path):
    phone.set_faults(storage_bytes=64 * 1024)
    result = cli("profile", tiny_onnx, "--device", phone.serial, *QUICK, "--out", tmp_path / "r", phone=phone)
    assert result.returncode == 2 and "MiB free" in result.stderr and "free space on the device" in result.stderr


def test_push_resumes_by_chunk_after_a_dropped_connection(phone, tmp_path, monkeypatch):
    monkeypatch.setattr(adb_module, "CHUNK_BYTES", 256 * 1024)
    payload = tmp_path / "weights.bin"
    payload.write_bytes(os.urandom(1024 * 1024 + 1000))  # 5 chunks
    sha = hashlib.sha256(payload.read_bytes()).hexdigest()
    phone.set_faults(drop_push_after_bytes=600 * 1024)  # in the third chunk
    device = open_device(phone.serial)
    assert device.push(payload, "slm-edge/test/weights.bin", sha) is True
    assert device.transfer["reconnects"] >= 1 and device.transfer["chunks_skipped"] == 2
    assert hashlib.sha256(phone.host_path(f"{DEVICE_ROOT}/test/weights.bin").read_bytes()).hexdigest() == sha
    assert device.push(payload, "slm-edge/test/weights.bin", sha) is False  # already there: skipped by hash


def test_disconnects_mid_push_mid_run_and_mid_pull_are_survived(phone, tiny_onnx, tmp_path, monkeypatch):
    monkeypatch.setattr(adb_module, "CHUNK_BYTES", 64 * 1024)
    for name, fault in (("push", {"drop_push_after_bytes": 100 * 1024}), ("run", {"drop_instrument_after_status": 2}),
                        ("pull", {"drop_pull_after_bytes": 2048})):
        phone.set_faults(**fault)
        outcome = profile_artifact(tiny_onnx, open_device(phone.serial), quick_options(), tmp_path / name)
        assert outcome.trace.status == "complete", name
        assert outcome.trace.host.transfer["reconnects"] >= 1, name
        assert len(outcome.trace.measured_runs) == 4, name
        assert not phone.faults(), f"the {name} fault never fired"
        assert leftovers(phone) == []


def test_app_crash_keeps_the_measured_repeats_and_the_logcat(phone, tiny_onnx, tmp_path):
    phone.set_faults(crash_at_phase="run")  # after the warm-up, as the first measured repeat starts
    with pytest.raises(SlmEdgeError) as err:
        profile_artifact(tiny_onnx, open_device(phone.serial), quick_options(prompt_lengths=[8]), tmp_path / "r")
    assert "crashed" in str(err.value)
    logcat = (tmp_path / "r" / "logcat.txt").read_text()
    assert "Fatal signal 9" in logcat
    trace = Trace.load(tmp_path / "r" / "trace.json")  # what was measured before the crash is kept
    assert trace.status in ("incomplete", "failed") and trace.errors[-1]["phase"] == "crash"
    assert (tmp_path / "r" / "report.md").is_file()
    assert leftovers(phone) == []


def test_a_hung_app_is_stopped_after_the_phase_timeout(phone, tiny_onnx, tmp_path):
    phone.set_faults(hang_at_phase="run")
    with pytest.raises(SlmEdgeError) as err:
        profile_artifact(tiny_onnx, open_device(phone.serial), quick_options(timeout_s=8.0), tmp_path / "r")
    assert "no result within 8 s" in str(err.value) or "timed out" in str(err.value)
    assert (tmp_path / "r" / "logcat.txt").is_file()
    trace = Trace.load(tmp_path / "r" / "trace.json")
    assert trace.host.timed_out and trace.errors[-1]["phase"] == "timeout"
    assert phone.adb("shell", "pidof", "-s", "python3").stdout.strip() == ""  # force-stop ended it


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_a_damaged_trace_is_refused_and_kept(phone, tiny_onnx, tmp_path, damage):
    phone.set_faults(corrupt_trace=damage)
    with pytest.raises(SlmEdgeError) as err:
        profile_artifact(tiny_onnx, open_device(phone.serial), quick_options(prompt_lengths=[8]), tmp_path / "r")
    assert "sha256" in str(err.value) and "corrupt" in str(err.value)
    assert (tmp_path / "r" / "trace.corrupt.json").is_file() and not (tmp_path / "r" / "trace.json").exists()
    assert leftovers(phone) == []  # the failed pull still cleans the run's files on the device
    assert (tmp_path / "r" / "instrument.txt").is_file()  # what the host had is kept


@pytest.mark.parametrize("form", ["/storage/emulated/0/{run}/trace.json", "/storage/self/primary/{run}/trace.json",
                                  "/sdcard/{run}/trace.json"])
def test_every_form_the_app_reports_its_trace_in_is_accepted(phone, tiny_onnx, tmp_path, form):
    """getExternalFilesDir reports /storage/emulated/0/...; /sdcard and /storage/self/primary name the same folder."""
    phone.set_faults(app_reports_trace=form)
    outcome = profile_artifact(tiny_onnx, open_device(phone.serial), quick_options(prompt_lengths=[8]), tmp_path / "r")
    assert outcome.trace.status == "complete"
    reported = next(line.split("=", 1)[1] for line in (tmp_path / "r" / "instrument.txt").read_text().splitlines()
                    if line.startswith("INSTRUMENTATION_RESULT: trace="))
    assert reported.startswith(form.split("{run}")[0]) and reported.endswith("/trace.json")
    assert leftovers(phone) == []  # removed through the form the app reported


def test_a_trace_path_leading_out_is_refused_and_the_run_cleaned_up(phone, tiny_onnx, tmp_path):
    secret = f"{DEVICE_ROOT}/artifacts/secret.json"
    phone.adb("shell", f"mkdir -p {DEVICE_ROOT}/artifacts && echo '{{}}' > {secret}", check=True)
    phone.set_faults(app_reports_trace="/storage/emulated/0/{run}/../../../../../../../../.." + secret)
    with pytest.raises(SlmEdgeError) as err:
        profile_artifact(tiny_onnx, open_device(phone.serial), quick_options(prompt_lengths=[8]), tmp_path / "r")
    assert "outside its run folder" in str(err.value) and "slm-edge app install" in str(err.value)
    assert "runner exited" not in str(err.value)  # the refusal itself, not a runner failure
    assert not (tmp_path / "r" / "trace.json").exists() and (tmp_path / "r" / "instrument.txt").is_file()
    assert phone.host_path(secret).is_file()  # never pulled nor removed
    assert leftovers(phone) == []


def test_device_names_with_shell_metacharacters_are_quoted(phone, tmp_path):
    hostile = "slm-edge/odd dir/a b;touch PWNED$(id)'\"`touch PWNED2`.bin"
    payload = tmp_path / "x.bin"
    payload.write_bytes(b"payload")
    sha = hashlib.sha256(b"payload").hexdigest()
    device = open_device(phone.serial)
    assert device.push(payload, hostile, sha)
    assert device.pull(hostile, tmp_path / "back.bin", sha) and (tmp_path / "back.bin").read_bytes() == b"payload"
    device.remove("slm-edge/odd dir")
    assert not list(phone.root.rglob("PWNED*")) and not list(Path.cwd().glob("PWNED*"))
    assert not phone.host_path(f"{DEVICE_ROOT}/odd dir").exists()
    with pytest.raises(SlmEdgeError, match="'..'"):
        device.push(payload, "slm-edge/../../../etc/x", sha)


def test_op_breakdown_comes_back_from_the_device(phone, tiny_onnx, tmp_path):
    outcome = profile_artifact(tiny_onnx, open_device(phone.serial),
                               quick_options(prompt_lengths=[16], repeats=1, ops=True), tmp_path / "ops")
    profiles = outcome.trace.op_profiles
    assert profiles and {"prefill", "decode"} <= set(profiles[0]["phases"])
    assert outcome.analysis.op_breakdown and "latency_by_op_category" in page_charts((tmp_path / "ops" / "report.html").read_text())


def test_eval_over_adb_scores_on_the_phone_and_compares_with_this_machine(phone, tiny_onnx, tmp_path):
    """`eval --device`: the run config in mode eval goes through `am instrument` to the app's own Java
    (ProfileLoop's eval mode on OrtEngine), the trace comes back with per-token scores."""
    artifact = tmp_path / "artifact"
    shutil.copytree(tiny_onnx, artifact)
    result = cli("eval", artifact, "--device", phone.serial, "--tokens", "48", "--context", "32", "--json",
                 "--out", tmp_path / "run", phone=phone)
    assert result.returncode == 0, result.stderr
    entry = json.loads(result.stdout)
    device = entry["device_run"]
    assert device["serial"] == phone.serial and device["producer"] == "slm-edge-profiler-core"
    assert device["chunks_scored"] == entry["chunks"] == 4  # 48 tokens / (32 - 1 - 16) a chunk
    summary = device["summary"]
    assert summary["scored_tokens"] == entry["summary"]["scored_tokens"]
    assert summary["top1_agreement_vs_host"] >= 0.99 and summary["logprob_abs_diff_vs_host_max"] < 1e-3
    trace = Trace.load(tmp_path / "run" / "trace.json")
    assert trace.runs == () and [c["tokens"] for c in trace.eval["chunks"]] == [32] * 4
    assert leftovers(phone) == []


def test_eval_refuses_an_app_without_eval_mode_before_any_work(emulated_phone, tiny_onnx, tmp_path):
    installed = cli("app", "install", "--device", emulated_phone.serial, "--apk",
                    make_test_apk(tmp_path / "old.apk", version_code=2, features={"eval_mode": False}), phone=emulated_phone)
    assert installed.returncode == 0, installed.stderr
    artifact = tmp_path / "artifact"
    shutil.copytree(tiny_onnx, artifact)
    result = cli("eval", artifact, "--device", emulated_phone.serial, "--tokens", "48", "--context", "32",
                 "--out", tmp_path / "run", phone=emulated_phone)
    assert result.returncode == 2 and "predates `slm-edge eval`" in result.stderr, result.stderr
    assert not (artifact / "eval.json").exists()  # refused before the host's own run


def test_profile_refuses_a_phone_older_than_android_10_before_pushing(adb_server, tiny_onnx, tmp_path):
    from slm_edge.testing.harness import EmulatedPhone

    old = EmulatedPhone(adb_server, tmp_path / "old", shell_v2=False,
                        props={"ro.build.version.sdk": "23", "ro.build.version.release": "6.0.1"}).connect()
    try:
        old.adb("install", str(make_test_apk(tmp_path / "app.apk", version_code=2)))
        result = cli("profile", tiny_onnx, "--device", old.serial, *QUICK, "--out", tmp_path / "r", phone=old)
        assert result.returncode == 2 and "Android 6.0.1 (API 23)" in result.stderr
        assert "needs Android 10 (API 29)" in result.stderr and "Traceback" not in result.stderr
        assert not old.host_path(DEVICE_ROOT).exists()  # nothing pushed
    finally:
        old.close()


@pytest.mark.parametrize("case", ["executorch too old", "onnxruntime too old", "ops without etdump", "genai"])
def test_a_run_the_app_cannot_do_is_refused_before_pushing(case, emulated_phone, tiny_onnx, tiny_llama_pte, tmp_path):
    """The installed app's identity (runtime versions, features) against the artifact's program
    format: refused in one line naming both versions, and nothing reaches the device."""
    runtimes = {"executorch too old": {"executorch": "1.4.1"}, "onnxruntime too old": {"onnxruntime": "1.20.0"}}
    apk = make_test_apk(tmp_path / "app.apk", version_code=2, runtimes=runtimes.get(case, {}))
    assert emulated_phone.adb("install", str(apk)).returncode == 0
    artifact, extra, expected = {
        "executorch too old": (tiny_llama_pte, [], ["exported with executorch 1.5.1", "executorch-android 1.4.1"]),
        "onnxruntime too old": (tiny_onnx, [], ["opset 22", "onnxruntime-android 1.20.0 reads up to opset 21"]),
        "ops without etdump": (tiny_llama_pte, ["--ops"], ["needs ETDump", "EXECUTORCH_ANDROID_PROFILING=ON"]),
        "genai": (tiny_onnx, ["--engine", "onnxruntime-genai"], ["no onnxruntime-genai engine", "--engine onnxruntime"]),
    }[case]
    result = cli("profile", artifact, "--device", emulated_phone.serial, *QUICK, *extra, "--out", tmp_path / "r",
                 phone=emulated_phone)
    assert result.returncode == 2, result.stderr
    assert all(text in result.stderr for text in expected), result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not emulated_phone.host_path(f"{DEVICE_ROOT}/artifacts").exists()  # nothing pushed


def test_devices_does_not_ask_the_app_while_a_profile_holds_the_phone(phone):
    """The identity query is an instrumentation, and Android force-stops the app before starting one
    (ActivityManagerService.startInstrumentation): `devices` must not ask while a profile runs."""
    from slm_edge.device.lock import device_lock

    def app_of(result) -> dict:
        assert result.returncode == 0, result.stderr
        return next(row for row in json.loads(result.stdout) if row["serial"] == phone.serial)

    with device_lock(phone.serial, 0):
        busy = app_of(cli("devices", "--json", phone=phone))
    assert "runtimes" not in busy["app"] and busy["app_note"].startswith("a profile is running")
    assert app_of(cli("devices", "--json", phone=phone))["app"]["runtimes"] == TEST_APK_RUNTIMES
