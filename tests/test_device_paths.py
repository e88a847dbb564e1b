"""Paths the profiler app reports, checked against the emulated phone's real shared storage
(/sdcard -> /storage/self/primary -> ... -> /storage/emulated/<user>, device_folder.py): every
equivalent form of the app's run folder is accepted after the device canonicalised it, and a path
that leads out (`..`, a symlink, another run) is refused before anything is pulled or removed."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from slm_edge.device.adb import open_device
from slm_edge.contract import PACKAGE, trace_dir
from slm_edge.device.safe_paths import check_device_path
from slm_edge.errors import SlmEdgeError
from slm_edge.testing.harness import EmulatedPhone

pytestmark = pytest.mark.skipif(not (Path("/usr/bin/adb").exists() and Path("/usr/bin/bwrap").exists()),
                                reason="needs adb and bubblewrap")

RUN = "20260101-000000-000001"
RELATIVE = f"Android/data/{PACKAGE}/files/runs/{RUN}"


@pytest.fixture(params=["android14", "android10"])
def phone(request, adb_server, tmp_path, monkeypatch):
    """Users 0 and 10 (a work profile); Android 14 links /storage/self/primary straight to
    /storage/emulated/0, Android 10 through /mnt/user/0/primary."""
    sdk = {"android14": "34", "android10": "29"}[request.param]
    phone = EmulatedPhone(adb_server, tmp_path / "phone", users=(0, 10),
                          props={"ro.build.version.sdk": sdk}).connect()
    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", str(adb_server.port))
    yield phone
    phone.close()


def put_trace(phone, user: int, payload: bytes = b'{"status": "complete"}') -> str:
    """A trace where the app of that user writes it (getExternalFilesDir: /storage/emulated/<user>/...)."""
    path = f"/storage/emulated/{user}/{RELATIVE}/trace.json"
    host = phone.host_path(path)
    host.parent.mkdir(parents=True, exist_ok=True)
    host.write_bytes(payload)
    return path


def test_every_form_of_the_run_folder_is_accepted(phone, tmp_path):
    put_trace(phone, 0)
    device = open_device(phone.serial)
    forms = [f"/storage/emulated/0/{RELATIVE}/trace.json", f"/sdcard/{RELATIVE}/trace.json",
             f"/storage/self/primary/{RELATIVE}/trace.json", f"/storage/emulated/0/{RELATIVE}/./trace.json"]
    if phone.folder.props["ro.build.version.sdk"] == "29":
        forms.append(f"/mnt/user/0/primary/{RELATIVE}/trace.json")
    for form in forms:
        assert check_device_path(form, trace_dir(RUN), device.canonical) == str(Path(form)), form
    # what the device says each form is
    assert device.canonical([f"/sdcard/{RELATIVE}", "/sdcard/no/such/dir/file"]) == \
           [f"/storage/emulated/0/{RELATIVE}", None]


def test_a_work_profile_trace_is_pulled_and_removed_where_the_app_put_it(phone, tmp_path):
    reported = put_trace(phone, 10, b'{"user": 10}')
    device = open_device(phone.serial)
    assert check_device_path(reported, trace_dir(RUN), device.canonical) == reported
    with pytest.raises(SlmEdgeError, match="outside"):  # the same user, another run
        check_device_path(reported.replace(RUN, "other-run"), trace_dir(RUN), device.canonical)
    with pytest.raises(SlmEdgeError, match="outside"):  # the user-10 form of another app
        check_device_path(reported.replace(PACKAGE, "com.example.other"), trace_dir(RUN), device.canonical)
    with pytest.raises(SlmEdgeError, match="outside"):  # pulling an unchecked /storage path is refused
        device.pull(reported, tmp_path / "x.json")
    device._vetted.add(str(Path(reported).parent))  # what run_profile does once the check passed
    sha = hashlib.sha256(b'{"user": 10}').hexdigest()
    assert device.pull(reported, tmp_path / "trace.json", sha) and (tmp_path / "trace.json").read_bytes() == b'{"user": 10}'
    device.remove(str(Path(reported).parent))
    assert not phone.host_path(f"/storage/emulated/10/{RELATIVE}").exists()
    assert phone.host_path(f"/storage/emulated/10/Android/data/{PACKAGE}/files/runs").is_dir()


def test_paths_that_lead_out_are_refused(phone):
    put_trace(phone, 0)
    secret = "/data/local/tmp/slm-edge/secret"
    phone.adb("shell", f"mkdir -p {secret} && echo x > {secret}/trace.json", check=True)
    base = f"/storage/emulated/0/{RELATIVE}"
    # a symlink inside the run folder, to the host's own folder on the device and to a missing target
    phone.adb("shell", f"ln -s {secret} {base}/out && ln -s /nowhere {base}/dangling.json", check=True)
    # another run's folder that is itself a symlink out
    other = f"/storage/emulated/0/Android/data/{PACKAGE}/files/runs/linked"
    phone.adb("shell", f"ln -s {secret} {other}", check=True)
    device = open_device(phone.serial)
    for hostile, why in ((f"{base}/../../../../../../../../data/local/tmp/slm-edge/secret/trace.json", "'..'"),
                         (f"{base}/out/trace.json", "symlink out of the run folder"),
                         (f"{base}/dangling.json", "dangling symlink"),
                         (f"{other}/trace.json", "run folder that is a symlink"),
                         (f"{secret}/trace.json", "the host's own folder"),
                         ("trace.json", "relative"), (f"{base}/trace.json\n/etc/passwd", "newline")):
        run = "linked" if hostile.startswith(other) else RUN
        with pytest.raises(SlmEdgeError, match="outside") as err:
            check_device_path(hostile, trace_dir(run), device.canonical)
        assert "slm-edge app install" in str(err.value), why
    with pytest.raises(SlmEdgeError, match=r"resolves to /data/local/tmp/slm-edge/secret/trace\.json"):
        check_device_path(f"{base}/out/trace.json", trace_dir(RUN), device.canonical)
