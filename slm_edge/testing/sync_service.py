"""The `sync:` service (AOSP adb SYNC.TXT / file_sync_protocol.h): STAT/LST2/STA2, LIST, SEND,
RECV, QUIT. Runs in the adbd process, outside the sandbox: every path goes through
DeviceFolder.host_path (which follows /sdcard -> /storage/self/primary -> ... as the device
does), and only /data and the users' /storage/emulated/<user> can be written."""

from __future__ import annotations

import errno
import os
import stat
import struct

from slm_edge.testing.device_folder import DeviceFolder, DevicePathError
from slm_edge.testing.faults import read_faults, set_faults, take_fault

SYNC_DATA_MAX = 64 * 1024
MAX_PATH = 1024


class StreamClosed(Exception):
    pass


def _u32(value: int) -> int:
    return int(value) & 0xFFFFFFFF


def _stat_v1(st: os.stat_result | None) -> bytes:
    if st is None:  # adbd answers a missing file with zeros
        return b"STAT" + bytes(12)
    return b"STAT" + struct.pack("<3I", _u32(st.st_mode), _u32(st.st_size), _u32(st.st_mtime))


def _stat_v2(tag: bytes, st: os.stat_result | None, error: int) -> bytes:
    if st is None:
        return tag + struct.pack("<I", error) + bytes(64)
    return tag + struct.pack("<IQQIIIIQqqq", 0, st.st_dev, st.st_ino, st.st_mode, st.st_nlink, 2000, 2000,
                             st.st_size, int(st.st_atime), int(st.st_mtime), int(st.st_ctime))


class SyncService:
    def __init__(self, stream, device: DeviceFolder):
        self.stream = stream
        self.device = device

    async def run(self) -> None:
        try:
            while True:
                header = await self.stream.read_exactly(8)
                request, length = header[:4], struct.unpack("<I", header[4:])[0]
                if request == b"QUIT":
                    return
                if length > MAX_PATH:
                    await self._fail(f"path too long: {length}")
                    return
                path = (await self.stream.read_exactly(length)).decode("utf-8", "surrogateescape")
                handler = {b"STAT": self._stat, b"LST2": self._stat, b"STA2": self._stat, b"LIST": self._list,
                           b"SEND": self._send, b"RECV": self._recv}.get(request)
                if handler is None:
                    await self._fail(f"unknown sync request {request!r}")
                    return
                if not await handler(request, path):
                    return
        except StreamClosed:
            return

    async def _fail(self, message: str) -> None:
        data = message.encode()
        await self.stream.write(b"FAIL" + struct.pack("<I", len(data)) + data)

    def _lookup(self, path: str, follow: bool) -> tuple[os.stat_result | None, int]:
        try:
            host, _ = self.device.host_path(path, follow_last=follow)
            return (os.stat(host) if follow else os.lstat(host)), 0
        except OSError as err:
            return None, err.errno or errno.ENOENT

    async def _stat(self, request: bytes, path: str) -> bool:
        if request == b"STAT":  # v1 is lstat, as in adbd
            await self.stream.write(_stat_v1(self._lookup(path, follow=False)[0]))
        else:
            st, error = self._lookup(path, follow=request == b"STA2")
            await self.stream.write(_stat_v2(request, st, error))
        return True

    async def _list(self, _request: bytes, path: str) -> bool:
        entries = []
        try:
            host, _ = self.device.host_path(path)
            names = [".", ".."] + sorted(os.listdir(host))
            for name in names:
                try:
                    st = os.lstat(host / name)
                except OSError:
                    continue
                encoded = name.encode("utf-8", "surrogateescape")
                entries.append(b"DENT" + struct.pack("<4I", _u32(st.st_mode), _u32(st.st_size), _u32(st.st_mtime),
                                                     len(encoded)) + encoded)
        except OSError:
            pass  # adbd lists nothing for a missing or unreadable folder
        await self.stream.write(b"".join(entries) + b"DONE" + bytes(16))
        return True

    async def _send(self, _request: bytes, spec: str) -> bool:
        path, _, mode_text = spec.rpartition(",")
        if not path:
            path, mode_text = spec, "33188"  # 0100644
        mode = int(mode_text) if mode_text.isdigit() else 0o100644
        received = bytearray() if stat.S_ISLNK(mode) else None
        error: str | None = None
        target = handle = None
        try:
            target, writable = self.device.host_path(path, follow_last=not stat.S_ISLNK(mode))
            if not writable:
                raise OSError(errno.EROFS, os.strerror(errno.EROFS))
            if target.is_dir() and not target.is_symlink():
                raise OSError(errno.EISDIR, os.strerror(errno.EISDIR))
            self._make_parents(target)
            if received is None:
                handle = open(target, "wb")
        except DevicePathError as err:
            error = f"couldn't create file: {err.strerror}"
        except OSError as err:
            error = f"couldn't create file: {err.strerror}"
        limit = self.device.storage_limit()
        budget = None
        if limit is not None and error is None:
            existing = target.stat().st_size if target.is_file() else 0
            budget = limit - (self.device.used_bytes() - existing)
        drop_after = read_faults(self.device.state).get("drop_push_after_bytes")
        written = 0
        mtime = 0
        try:
            # Keep reading DATA until DONE even after an error, as adbd does, then answer FAIL.
            while True:
                header = await self.stream.read_exactly(8)
                kind, size = header[:4], struct.unpack("<I", header[4:])[0]
                if kind == b"DONE":
                    mtime = size
                    break
                if kind != b"DATA" or size > SYNC_DATA_MAX:
                    await self._fail(f"invalid data message {kind!r} of {size} bytes")
                    return False
                chunk = await self.stream.read_exactly(size)
                written += size
                if drop_after is not None and written >= drop_after and take_fault(self.device.state,
                                                                                   "drop_push_after_bytes") is not None:
                    # Leave what was written: a host must not trust a file just because it exists.
                    if handle:
                        handle.write(chunk[:max(0, size - (written - drop_after))])
                        handle.close()
                    self.stream.drop_connection()
                    raise StreamClosed
                if error:
                    continue
                if budget is not None and written > budget:
                    error = f"write failed: {os.strerror(errno.ENOSPC)}"
                    continue
                if received is not None:
                    received += chunk
                else:
                    handle.write(chunk)
        finally:
            if handle and not handle.closed:
                handle.close()
        if error is None:
            try:
                if received is not None:
                    if target.is_symlink() or target.exists():
                        target.unlink()
                    os.symlink(received.decode("utf-8", "surrogateescape"), target)
                else:
                    target.chmod(mode & 0o777)
                    os.utime(target, (mtime, mtime))
            except OSError as err:
                error = f"couldn't finish file: {err.strerror}"
        if error:
            if handle is not None and target is not None:
                target.unlink(missing_ok=True)  # as adbd: a failed push leaves nothing
            await self._fail(error)
            return True
        if drop_after is not None:  # the knob counts bytes over every push until it fires
            set_faults(self.device.state, drop_push_after_bytes=max(1, drop_after - written))
        await self.stream.write(b"OKAY" + bytes(4))
        return True

    def _make_parents(self, target) -> None:
        parent = target.parent
        if not parent.exists():
            parent.mkdir(parents=True, exist_ok=True)

    async def _recv(self, _request: bytes, path: str) -> bool:
        try:
            host, _ = self.device.host_path(path)
            handle = open(host, "rb")
        except OSError as err:
            await self._fail(f"open failed: {err.strerror}")
            return True
        drop_after = read_faults(self.device.state).get("drop_pull_after_bytes")
        sent = 0
        with handle:
            while chunk := handle.read(SYNC_DATA_MAX):
                if drop_after is not None and sent + len(chunk) >= drop_after and take_fault(
                        self.device.state, "drop_pull_after_bytes") is not None:
                    head = chunk[:max(0, drop_after - sent)]
                    if head:
                        await self.stream.write(b"DATA" + struct.pack("<I", len(head)) + head)
                    self.stream.drop_connection()
                    raise StreamClosed
                await self.stream.write(b"DATA" + struct.pack("<I", len(chunk)) + chunk)
                sent += len(chunk)
        if drop_after is not None:  # the knob counts bytes over every pull until it fires
            set_faults(self.device.state, drop_pull_after_bytes=max(1, drop_after - sent))
        await self.stream.write(b"DONE" + bytes(4))
        return True
