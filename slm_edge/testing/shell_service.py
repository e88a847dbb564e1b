"""`shell:` (v1: stdout and stderr merged, no exit code), `shell,v2,...:` (packets: 1-byte id +
4-byte LE length; 0 stdin, 1 stdout, 2 stderr, 3 exit code, 4 close stdin) and `exec:` (raw bytes
both ways). Each command is `sh -c` inside the device's sandbox, in its own process group, killed
when the host closes the stream (a real adbd's shell gets SIGHUP then)."""

from __future__ import annotations

import asyncio
import os
import signal
import struct

from slm_edge.testing.device_folder import DeviceFolder
from slm_edge.testing.faults import read_faults, take_fault
from slm_edge.testing.sandbox import sandbox_argv
from slm_edge.testing.sync_service import StreamClosed

ID_STDIN, ID_STDOUT, ID_STDERR, ID_EXIT, ID_CLOSE_STDIN = 0, 1, 2, 3, 4
_STATUS_BLOCK_END = b"INSTRUMENTATION_STATUS_CODE:"


def parse_shell_service(service: str) -> tuple[bool, str]:
    """(shell v2?, command) from `shell:cmd`, `shell,v2,TERM=x,raw:cmd` or `exec:cmd`."""
    head, _, command = service.partition(":")
    options = head.split(",")[1:]
    return "v2" in options, command


class ShellService:
    def __init__(self, stream, device: DeviceFolder, service: str):
        self.stream = stream
        self.device = device
        self.exec_mode = service.startswith("exec:")
        self.v2, self.command = parse_shell_service(service)
        self.process: asyncio.subprocess.Process | None = None
        # `am instrument` is watched so a test can cut the connection after K status blocks.
        self.watch_instrument = "am instrument" in self.command
        self.status_blocks = 0

    async def run(self) -> None:
        argv = ["/system/bin/sh", "-c", self.command] if self.command.strip() else ["/system/bin/sh"]
        self.process = await asyncio.create_subprocess_exec(
            *sandbox_argv(self.device, argv), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE if self.v2 else asyncio.subprocess.STDOUT, start_new_session=True)
        pumps = [asyncio.create_task(self._pump_output(self.process.stdout, ID_STDOUT))]
        if self.v2:
            pumps.append(asyncio.create_task(self._pump_output(self.process.stderr, ID_STDERR)))
        stdin_task = asyncio.create_task(self._pump_input())
        try:
            await asyncio.gather(*pumps)
            code = await self.process.wait()
            if self.v2:
                await self.stream.write(self._packet(ID_EXIT, bytes([code & 0xFF])))
        except StreamClosed:
            pass
        finally:
            stdin_task.cancel()
            self._kill()
            await self.stream.close()

    def _kill(self) -> None:
        if self.process and self.process.returncode is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    @staticmethod
    def _packet(kind: int, data: bytes) -> bytes:
        return struct.pack("<BI", kind, len(data)) + data

    async def _pump_output(self, pipe: asyncio.StreamReader, kind: int) -> None:
        while data := await pipe.read(64 * 1024):
            await self.stream.write(self._packet(kind, data) if self.v2 else data)
            if self.watch_instrument and kind == ID_STDOUT:
                self._maybe_drop_instrument(data)

    def _maybe_drop_instrument(self, data: bytes) -> None:
        self.status_blocks += data.count(_STATUS_BLOCK_END)
        limit = read_faults(self.device.state).get("drop_instrument_after_status")
        if limit is not None and self.status_blocks >= limit and take_fault(
                self.device.state, "drop_instrument_after_status") is not None:
            self.stream.drop_connection()
            raise StreamClosed

    async def _pump_input(self) -> None:
        stdin = self.process.stdin
        buffer = b""
        try:
            while True:
                data = await self.stream.read_some()
                if not data:  # the host closed the stream: end the command
                    self._kill()
                    return
                if not self.v2:
                    stdin.write(data)
                    await stdin.drain()
                    continue
                buffer += data
                while len(buffer) >= 5:
                    kind, length = struct.unpack("<BI", buffer[:5])
                    if len(buffer) < 5 + length:
                        break
                    payload, buffer = buffer[5:5 + length], buffer[5 + length:]
                    if kind == ID_STDIN:
                        stdin.write(payload)
                        await stdin.drain()
                    elif kind == ID_CLOSE_STDIN:
                        stdin.close()
        except (BrokenPipeError, ConnectionResetError):
            pass
