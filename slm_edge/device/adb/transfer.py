"""Files to and from a phone that survive a dropped connection: a file already on the device with
the right sha256 is skipped, a large file travels in chunks so a retry resumes at the first chunk
the device lacks, and every file is checked against its sha256 once it arrived (either way)."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path, PurePosixPath

from slm_edge import cache
from slm_edge.contract import DEVICE_ROOT
from slm_edge.device.adb.connection import ADB_FAILURES, STORAGE, Connection, dropped
from slm_edge.device.safe_paths import local_path_for
from slm_edge.errors import BadInput, DeviceGone, RuntimeFailure

CHUNK_BYTES = 8 * 2**20  # resume granularity for large files


class Transfer(Connection):
    def _remote_sha(self, path: str) -> str | None:
        done = self.shell(["sha256sum", path])
        return done.stdout.split()[0] if done.returncode == 0 and done.stdout.strip() else None

    def _remote_hashes(self, folder: str) -> dict[str, str]:
        done = self.shell(["sh", "-c", 'cd "$1" 2>/dev/null && sha256sum -- * 2>/dev/null', "hashes", folder])
        return {PurePosixPath(parts[-1].lstrip("*")).name: parts[0]
                for parts in (line.split() for line in done.stdout.splitlines()) if len(parts) >= 2}

    def free_bytes(self, folder: str = STORAGE) -> int | None:
        done = self.shell(["df", "-k", folder])
        rows = [line.split() for line in done.stdout.splitlines()[1:] if line.split()]
        try:
            return int(rows[-1][3]) * 1024
        except (IndexError, ValueError):
            return None  # a df we cannot read: the push itself will say if space runs out

    def _check_space(self, needed: int, label: str) -> None:
        free = self.free_bytes()
        if free is not None and free < needed:
            raise BadInput(
                f"{self.serial} has {free / 2**20:.1f} MiB free in {STORAGE} and {label} needs {needed / 2**20:.1f} MiB",
                f"free space on the device (old artifacts: adb -s {self.serial} shell rm -r {DEVICE_ROOT}/artifacts) and retry")

    def _sync_push(self, source, target: str) -> None:
        try:
            self._adb.sync.push(source, target, mode=0o644)
        except ADB_FAILURES as exc:
            if self._reachable():  # the device answered FAIL: a refusal, not a drop
                self._check_space(source.stat().st_size if isinstance(source, Path) else len(source), PurePosixPath(target).name)
                raise RuntimeFailure(f"{self.serial} refused to store {target} ({exc})",
                                     "check the device's storage and permissions on /data/local/tmp") from None
            raise dropped(f"push of {target}: {exc}") from None

    def push(self, local: Path, remote: str, sha256: str) -> bool:
        target = self._device_path(remote)
        if self._retrying("hash check", lambda: self._remote_sha(target)) == sha256:
            self.transfer["files_skipped"] += 1
            return False
        size = Path(local).stat().st_size
        self._check_space(size, Path(local).name)
        folder = str(PurePosixPath(target).parent)
        self._retrying("mkdir", lambda: self.shell(["mkdir", "-p", folder]))
        if size <= CHUNK_BYTES:
            # via a temporary name: an interrupted push never looks like a finished file
            self._retrying(f"pushing {Path(local).name}", lambda: (self._sync_push(Path(local), target + ".part"),
                                                                   self.shell(["mv", target + ".part", target])))
        else:
            self._retrying(f"pushing {Path(local).name}", lambda: self._push_chunks(Path(local), target))
        arrived = self._retrying("hash check", lambda: self._remote_sha(target))
        if arrived != sha256:
            self.shell(["rm", "-f", target])
            raise RuntimeFailure(f"{Path(local).name} arrived on {self.serial} with sha256 {str(arrived)[:12]}…, "
                                 f"not {sha256[:12]}…", "profile again; if it repeats, the cable or the device's storage is faulty")
        return True

    def _push_chunks(self, local: Path, target: str) -> None:
        """Chunks the device already holds (same hash) from an earlier, interrupted try are skipped."""
        parts = target + ".parts"
        self.shell(["mkdir", "-p", parts])
        have = self._remote_hashes(parts)
        with open(local, "rb") as f:
            index = 0
            while chunk := f.read(CHUNK_BYTES):
                name = f"{index:05d}"
                if have.get(name) == hashlib.sha256(chunk).hexdigest():
                    self.transfer["chunks_skipped"] += 1
                else:
                    self._sync_push(chunk, f"{parts}/{name}")
                    self.transfer["chunks_pushed"] += 1
                index += 1
        joined = self.shell(["sh", "-c", 'cat "$1"/* > "$2.part" && mv "$2.part" "$2" && rm -r "$1"', "join", parts, target])
        if joined.returncode != 0:
            self._check_space(local.stat().st_size, local.name)
            raise RuntimeFailure(f"joining the chunks of {local.name} on {self.serial} failed: {joined.stderr.strip()[:200]}",
                                 "check the device's free storage and retry")

    def pull(self, remote: str, local: Path, sha256: str | None = None) -> bool:
        source = self._device_path(remote)
        if self._retrying("stat", lambda: self.shell(["test", "-f", source]).returncode) != 0:
            return False
        local = Path(local)
        local.parent.mkdir(parents=True, exist_ok=True)
        tmp = local.with_name(f".{local.name}.pull")

        def pull_once() -> str:
            try:
                self._adb.sync.pull_file(source, tmp)
            except ADB_FAILURES as exc:
                raise dropped(f"pull of {source}: {exc}") from None
            return cache.sha256_file(tmp)

        got = self._retrying(f"pulling {PurePosixPath(source).name}", pull_once)
        if sha256 and got != sha256:  # damaged on the way: once more, then say so
            got = self._retrying(f"pulling {PurePosixPath(source).name}", pull_once)
            if got != sha256:
                os.replace(tmp, local.with_name(local.stem + ".corrupt" + local.suffix))
                raise RuntimeFailure(f"{PurePosixPath(source).name} from {self.serial} has sha256 {got[:12]}…, the app "
                                     f"reported {sha256[:12]}… (kept as {local.stem}.corrupt{local.suffix})",
                                     "profile again; if it repeats, the device's storage or the cable is faulty")
        os.replace(tmp, local)
        return True

    def pull_folder(self, remote: str, local_dir: Path, skip: tuple[str, ...] = ()) -> list[str]:
        """Every plain file of a device folder (ETDump, ORT profile, logs), names sanitized."""
        folder = self._device_path(remote)
        try:
            entries = [e for e in self._adb.sync.list(folder) if stat.S_ISREG(e.mode)]
        except ADB_FAILURES:
            return []
        pulled = []
        for entry in entries:
            if entry.path in skip:
                continue
            target = local_path_for(local_dir, entry.path)
            if self.pull(f"{folder}/{entry.path}", target):
                pulled.append(target.name)
        return pulled

    def remove(self, remote: str) -> None:
        try:
            self.shell(["rm", "-rf", self._device_path(remote)])
        except DeviceGone:
            pass  # cleaning up is best effort; the next run's paths are new
