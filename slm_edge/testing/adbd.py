"""An emulated phone's adbd: the device side of the adb protocol over TCP, so that
`adb connect 127.0.0.1:PORT` makes it a device of a real adb server.

    python -m slm_edge.testing.adbd --port 5555 --root /tmp/phone [--abi x86_64] [--getprop-capture FILE]
        [--shell-v1-only] [--user 10]

Services: shell (v1 and v2), exec, sync (see shell_service.py and sync_service.py); device
commands run sandboxed (sandbox.py) over the device folder (device_folder.py); faults.py makes
it misbehave on request. --getprop-capture imitates a real phone from its `getprop` output;
--shell-v1-only an adbd from before Android 7.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import secrets
import signal
import sys
import threading
from pathlib import Path

from slm_edge.testing import adb_protocol as proto
from slm_edge.testing import app_runtime
from slm_edge.testing.adb_protocol import Packet
from slm_edge.testing.device_folder import DeviceFolder
from slm_edge.testing.faults import read_faults
from slm_edge.testing.shell_service import ShellService
from slm_edge.testing.sync_service import StreamClosed, SyncService

log = logging.getLogger("slm_edge.testing.adbd")
FEATURES = "shell_v2,cmd,stat_v2,fixed_push_mkdir,apex"


class Stream:
    """One service's end of an adb stream: one WRTE in flight at a time, each host WRTE acked
    when the service has taken its data (that is the flow control)."""

    def __init__(self, transport: "Transport", local_id: int, remote_id: int):
        self.transport = transport
        self.local_id = local_id
        self.remote_id = remote_id
        self.incoming: asyncio.Queue[bytes] = asyncio.Queue()
        self.buffer = bytearray()
        self.acked = asyncio.Event()
        self.acked.set()
        self.closed = False

    # host -> service
    def on_write(self, data: bytes) -> None:
        self.incoming.put_nowait(data)

    def on_close(self) -> None:
        self.closed = True
        self.acked.set()
        self.incoming.put_nowait(b"")

    async def read_some(self) -> bytes:
        """The next chunk the host wrote, or b"" once the stream is closed."""
        if self.buffer:
            data, self.buffer = bytes(self.buffer), bytearray()
            return data
        return await self._next_write()

    async def _next_write(self) -> bytes:
        data = await self.incoming.get()
        if not data:
            self.incoming.put_nowait(b"")  # stay closed for later readers
            return b""
        await self.transport.send(Packet(proto.A_OKAY, self.local_id, self.remote_id))
        return data

    async def read_exactly(self, size: int) -> bytes:
        while len(self.buffer) < size:
            data = await self._next_write()
            if not data:
                raise StreamClosed
            self.buffer += data
        data, self.buffer = bytes(self.buffer[:size]), self.buffer[size:]
        return data

    # service -> host
    async def write(self, data: bytes) -> None:
        for start in range(0, len(data), self.transport.max_payload):
            await self.acked.wait()
            if self.closed:
                raise StreamClosed
            self.acked.clear()
            await self.transport.send(Packet(proto.A_WRTE, self.local_id, self.remote_id,
                                             data[start:start + self.transport.max_payload]))
        await self.acked.wait()  # only finished once the host took it (a drop right after must not lose it)
        if self.closed:
            raise StreamClosed

    def on_okay(self) -> None:
        self.acked.set()

    async def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.acked.set()
            await self.transport.send(Packet(proto.A_CLSE, self.local_id, self.remote_id))
        self.transport.streams.pop(self.local_id, None)

    def drop_connection(self) -> None:
        self.transport.drop()


class Transport:
    """One TCP connection from an adb server."""

    def __init__(self, device: DeviceFolder, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.device = device
        self.reader = reader
        self.writer = writer
        self.max_payload = proto.MAX_PAYLOAD
        self.streams: dict[int, Stream] = {}
        self.next_id = 1
        self.online = False
        self.send_lock = asyncio.Lock()
        self.tasks: set[asyncio.Task] = set()

    async def send(self, packet: Packet) -> None:
        if self.writer.is_closing():
            raise StreamClosed
        async with self.send_lock:
            self.writer.write(packet.encode())
            try:
                await self.writer.drain()
            except ConnectionError as err:
                raise StreamClosed from err

    def drop(self) -> None:
        """Cut the TCP connection abruptly (fault injection), as a pulled cable would."""
        log.info("dropping the connection (fault)")
        self.writer.transport.abort()

    async def serve(self) -> None:
        try:
            while True:
                packet = await proto.read_packet(self.reader)
                await self.handle(packet)
        except (asyncio.IncompleteReadError, ConnectionError, StreamClosed):
            pass
        except proto.ProtocolError as err:
            log.warning("closing connection: %s", err)
        finally:
            for stream in list(self.streams.values()):
                stream.on_close()
            for task in list(self.tasks):
                task.cancel()
            self.writer.transport.abort()

    async def handle(self, packet: Packet) -> None:
        if packet.command == proto.A_CNXN:
            await self.on_connect(packet)
        elif packet.command == proto.A_AUTH:
            # Every signature and every offered key is refused: the device stays unauthorized.
            if packet.arg0 == proto.AUTH_SIGNATURE:
                await self.send(Packet(proto.A_AUTH, proto.AUTH_TOKEN, 0, secrets.token_bytes(20)))
        elif not self.online:
            return
        elif packet.command == proto.A_OPEN:
            await self.on_open(packet)
        elif packet.command == proto.A_OKAY:
            stream = self.streams.get(packet.arg1)
            if stream:
                stream.on_okay()
        elif packet.command == proto.A_WRTE:
            stream = self.streams.get(packet.arg1)
            if stream:
                stream.on_write(packet.data)
            else:  # a stream we already closed: tell the host again
                await self.send(Packet(proto.A_CLSE, 0, packet.arg0))
        elif packet.command == proto.A_CLSE:
            stream = self.streams.pop(packet.arg1, None)
            if stream:
                stream.on_close()

    async def on_connect(self, packet: Packet) -> None:
        self.max_payload = min(packet.arg1 or proto.MAX_PAYLOAD, proto.MAX_PAYLOAD)
        if read_faults(self.device.state).get("require_auth"):
            await self.send(Packet(proto.A_AUTH, proto.AUTH_TOKEN, 0, secrets.token_bytes(20)))
            return
        self.online = True
        version = max(min(packet.arg0, proto.A_VERSION), proto.A_VERSION_MIN)
        await self.send(Packet(proto.A_CNXN, version, self.max_payload, banner(self.device).encode()))

    async def on_open(self, packet: Packet) -> None:
        service = packet.data.rstrip(b"\0").decode("utf-8", "replace")
        runner = self.service_for(service)
        if runner is None:
            log.info("refusing service %r", service)
            await self.send(Packet(proto.A_CLSE, 0, packet.arg0))
            return
        local_id = self.next_id
        self.next_id += 1
        stream = Stream(self, local_id, packet.arg0)
        self.streams[local_id] = stream
        await self.send(Packet(proto.A_OKAY, local_id, packet.arg0))
        task = asyncio.create_task(self.run_service(stream, runner))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def service_for(self, service: str):
        if not self.device.shell_v2 and service.startswith("shell,"):
            return None  # before Android 7 adbd knew only `shell:` (services.cpp): the host sees the stream close
        if service.startswith(("shell:", "shell,", "exec:")):
            return lambda stream: ShellService(stream, self.device, service).run()
        if service == "sync:":
            return lambda stream: SyncService(stream, self.device).run()
        return None

    async def run_service(self, stream: Stream, runner) -> None:
        try:
            await runner(stream)
        except StreamClosed:
            pass
        except Exception:  # a bug in a service must not take the whole device down
            log.exception("service failed")
        finally:
            try:
                await stream.close()
            except StreamClosed:
                pass


def banner(device: DeviceFolder) -> str:
    """The CNXN banner (AOSP adb.cpp get_connection_string): `features=` joined it in Android 7,
    so a shell-v1-only device sends the three product properties alone."""
    props = device.props
    keys = ("ro.product.name", "ro.product.model", "ro.product.device")
    features = f"features={FEATURES}" if device.shell_v2 else ""
    return "device::" + "".join(f"{key}={props.get(key, '')};" for key in keys) + features


class EmulatedAdbd:
    """The device's adbd, on an asyncio loop in a thread of its own: start(), stop(), restart()."""

    def __init__(self, root: Path, port: int = 0, host: str = "127.0.0.1", abi: str | None = None,
                 props: dict | None = None, capture: Path | None = None, users: tuple[int, ...] = (0,),
                 shell_v2: bool = True):
        self.device = DeviceFolder(root).create(abi=abi, props=props, capture=capture, users=users, shell_v2=shell_v2)
        app_runtime.install(self.device.root, self.device.state)  # the app's Java code, for ONNX runs
        self.host = host
        self.port = port
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread: threading.Thread | None = None
        self.server: asyncio.base_events.Server | None = None
        self.connections: set[Transport] = set()

    async def _on_client(self, reader, writer) -> None:
        transport = Transport(self.device, reader, writer)
        self.connections.add(transport)
        try:
            await transport.serve()
        finally:
            self.connections.discard(transport)

    async def _listen(self) -> None:
        self.server = await asyncio.start_server(self._on_client, self.host, self.port, reuse_address=True)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _close(self) -> None:
        if self.server:
            self.server.close()
            await self.server.wait_closed()
            self.server = None
        for transport in list(self.connections):
            transport.drop()

    def start(self) -> "EmulatedAdbd":
        ready = threading.Event()
        failure: list[BaseException] = []

        def main() -> None:
            self.loop = asyncio.new_event_loop()
            try:
                self.loop.run_until_complete(self._listen())
            except BaseException as err:  # noqa: BLE001 - reported to the starting thread
                failure.append(err)
                ready.set()
                return
            ready.set()
            self.loop.run_forever()
            self.loop.close()

        self.thread = threading.Thread(target=main, name=f"adbd:{self.port}", daemon=True)
        self.thread.start()
        ready.wait(10)
        if failure:
            raise failure[0]
        return self

    def _call(self, coroutine) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(10)

    def stop(self, kill_apps: bool = True) -> None:
        if self.loop and self.thread and self.thread.is_alive():
            self._call(self._close())
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
        if kill_apps:
            from slm_edge.testing.app_process import kill_app_processes

            kill_app_processes(self.device.state)

    def restart(self) -> None:
        """Close every connection and listen again on the same port (the phone rebooted adbd);
        running apps keep running."""
        self._call(self._close())
        self._call(self._listen())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m slm_edge.testing.adbd",
                                     description="An emulated Android device for `adb connect 127.0.0.1:PORT`.")
    parser.add_argument("--port", type=int, default=5555)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--root", type=Path, required=True, help="the device's folder (created if missing)")
    parser.add_argument("--abi", help="x86_64 or arm64-v8a [default: x86_64, or the capture's]")
    parser.add_argument("--getprop-capture", type=Path, help="a real phone's `getprop` output to imitate")
    parser.add_argument("--prop", action="append", default=[], metavar="KEY=VALUE", help="override a property")
    parser.add_argument("--user", type=int, action="append", default=[], help="another Android user's storage (e.g. 10)")
    parser.add_argument("--shell-v1-only", action="store_true", help="an adbd from before Android 7 (no shell_v2)")
    args = parser.parse_args(argv)
    props = {}
    for item in args.prop:
        key, sep, value = item.partition("=")
        if not sep:
            parser.error(f"--prop wants KEY=VALUE, got {item!r}")
        props[key] = value
    logging.basicConfig(level=logging.INFO, format="%(asctime)s adbd %(message)s")
    try:
        adbd = EmulatedAdbd(args.root, args.port, args.host, args.abi, props, capture=args.getprop_capture,
                            users=(0, *args.user), shell_v2=not args.shell_v1_only).start()
    except (ValueError, RuntimeError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"emulated device listening on {args.host}:{adbd.port} (root {adbd.device.root}); "
          f"adb connect {args.host}:{adbd.port}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    adbd.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
