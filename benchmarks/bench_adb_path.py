"""The adb path's own cost, through the real adb server and the emulated device: pushing an
artifact fresh, the same push when every file is already there (hash check only), and a push
resumed after a disconnect half-way, side by side; plus a whole `profile --device` against
`profile --emulated` on the same artifact and settings (their ratio is what adb costs end to end).

    .venv/bin/python benchmarks/bench_adb_path.py ARTIFACT_DIR

Emulated-device figures say what our host code and adb cost on this machine, not a phone's USB.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("artifact", type=Path)
    args = parser.parse_args()

    from slm_edge.device.adb import open_device
    from slm_edge.device.local import LocalDevice
    from slm_edge.records.manifest import Manifest
    from slm_edge.workflows.profile import ProfileOptions, profile_artifact, push_artifact
    from slm_edge.testing.harness import AdbServer, EmulatedPhone, make_test_apk

    manifest = Manifest.read(args.artifact)
    size = sum(f.bytes for f in manifest.files.values())
    with tempfile.TemporaryDirectory() as tmp:
        server = AdbServer().start()
        os.environ["ANDROID_ADB_SERVER_PORT"] = str(server.port)
        phone = EmulatedPhone(server, Path(tmp) / "phone").connect()
        try:
            device = open_device(phone.serial)
            device.install(make_test_apk(Path(tmp) / "app.apk"))
            figures = {}
            for label in ("fresh push", "push, all files already there"):
                start = time.perf_counter()
                push_artifact(device, args.artifact, manifest, "slm-edge/artifacts/bench")
                figures[label] = time.perf_counter() - start
            device.remove("slm-edge/artifacts/bench")
            phone.set_faults(drop_push_after_bytes=size // 2)
            start = time.perf_counter()
            push_artifact(device, args.artifact, manifest, "slm-edge/artifacts/bench")
            figures["push with a disconnect half-way"] = time.perf_counter() - start
            print(f"artifact {size / 2**20:.1f} MiB; reconnects {device.transfer['reconnects']}, "
                  f"chunks skipped on resume {device.transfer['chunks_skipped']}")
            for label, seconds in figures.items():
                print(f"{label:34s} {seconds:7.2f} s  {size / 2**20 / seconds:8.1f} MiB/s")

            options = ProfileOptions(prompt_lengths=[32, 128], decode_tokens=32, repeats=3, warmup=1, threads=[2])
            ends = {}
            for label, target in (("profile --emulated", LocalDevice()), ("profile --device (adb)", device)):
                start = time.perf_counter()
                outcome = profile_artifact(args.artifact, target, options, Path(tmp) / label.replace(" ", "_"))
                ends[label] = (time.perf_counter() - start, outcome.analysis.rows[-1].decode_tok_s.median)
            for label, (seconds, decode) in ends.items():
                print(f"{label:34s} {seconds:7.2f} s end to end, decode {decode:6.1f} tok/s (prompt 128)")
            (local_s, local_tps), (adb_s, adb_tps) = ends.values()
            print(f"adb / emulated: wall {adb_s / local_s:.2f}x, decode tok/s {adb_tps / local_tps:.2f}x")
        finally:
            phone.close()
            server.stop()


if __name__ == "__main__":
    main()
