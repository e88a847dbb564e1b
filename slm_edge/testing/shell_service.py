"""`shell:` (v1: stdout and stderr merged, no exit code), `shell,v2,...:` (packets: 1-byte id +
4-byte LE length; 0 stdin, 1 stdout, 2 stderr, 3 exit code, 4 close stdin) and `exec:` (raw bytes
both ways). Each command is `sh -c` inside the device's sandbox, in its own process group, killed
when the host closes the stream (a real adbd's shell gets SIGHUP then).

A device in shell-v1-only mode (adbd before Android 7) runs `shell:` through a pty, as AOSP adb
services.cpp did then (`create_subproc_thread(name + 6, SUBPROC_PTY)`; `exec:` stayed raw): the
terminal turns every \n into \r\n and stderr shares the one stream."""

from __future__ import annotations

import asyncio
import os
import signal
import struct
import termios

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
        self.pty_master: int | None = None
        self.pty_slave: int | None = None
        self.last_output = 0.0

    async def _start_on_pty(self, argv: list[str]) -> asyncio.StreamReader:
        master, slave = os.openpty()
        attrs = termios.tcgetattr(slave)
        attrs[3] &= ~termios.ECHO  # what the host sends is input, not output to echo back
        termios.tcsetattr(slave, termios.TCSANOW, attrs)
        try:
            self.process = await asyncio.create_subprocess_exec(
                *sandbox_argv(self.device, argv), stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
        except BaseException:
            os.close(slave)
            raise
        # Our copy of the slave stays open until the command has exited and its last output has
        # reached the master: closing it earlier lets a read see EIO before that output (a pty race).
        self.pty_slave = slave
        self.pty_master = master
        reader = asyncio.StreamReader()
        await asyncio.get_running_loop().connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(os.dup(master), "rb", buffering=0))
        return reader

    async def run(self) -> None:
        argv = ["/system/bin/sh", "-c", self.command] if self.command.strip() else ["/system/bin/sh"]
        if not self.v2 and not self.exec_mode and not self.device.shell_v2:
            output = await self._start_on_pty(argv)
        else:
            self.process = await asyncio.create_subprocess_exec(
                *sandbox_argv(self.device, argv), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE if self.v2 else asyncio.subprocess.STDOUT, start_new_session=True)
            output = self.process.stdout
        pumps = [asyncio.create_task(self._pump_output(output, ID_STDOUT))]
        if self.pty_slave is not None:
            pumps.append(asyncio.create_task(self._release_pty()))
        release = pumps[-1] if self.pty_slave is not None else None
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
            if release is not None:
                release.cancel()  # it would otherwise close the slave again, maybe a reused fd by then
            self._kill()
            self._close_slave()
            if self.pty_master is not None:
                os.close(self.pty_master)
                self.pty_master = None
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

    async def _release_pty(self) -> None:
        await self.process.wait()
        loop = asyncio.get_running_loop()
        while loop.time() - self.last_output < 0.05:  # let the pty hand over what was written last
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.02)
        self._close_slave()

    def _close_slave(self) -> None:
        slave, self.pty_slave = self.pty_slave, None  # taken first: closed once, whoever gets here first
        if slave is not None:
            os.close(slave)

    async def _pump_output(self, pipe: asyncio.StreamReader, kind: int) -> None:
        while True:
            try:
                data = await pipe.read(64 * 1024)
            except OSError:  # a pty's master reads EIO once the command and its children closed it
                data = b""
            if not data:
                return
            self.last_output = asyncio.get_running_loop().time()
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
                if self.pty_master is not None:
                    os.write(self.pty_master, data)
                    continue
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
