"""moto's S3 server, run as a separate process on a free local port: a real HTTP server
speaking the S3 API, which the plugin reaches through ``VENTA_S3_ENDPOINT_URL``. Tests read the
bucket back with boto3, the same API a person would use."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager, contextmanager
from typing import Any

import boto3
import httpx
from venta_core.app import Venta

from venta_s3 import S3Settings

ACCESS_KEY = "test-access-key"
SECRET_KEY = "test-secret-key-0123456789"  # a throwaway credential of the stand-in
REGION = "us-east-1"

# Started with ``python -c``: prints the port it listens on, serves until stdin closes.
_LAUNCH = """
import sys
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print(server.get_host_and_port()[1], flush=True)
sys.stdin.read()
server.stop()
"""


class MotoServer:
    def __init__(self) -> None:
        self.process: subprocess.Popen[str] | None = None
        self.port = 0

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", _LAUNCH],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()  # blocks until the server listens
        if not line.strip().isdigit():
            self.stop()
            raise RuntimeError(f"the S3 stand-in did not start: {line!r}")
        self.port = int(line)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        assert process.stdin is not None
        process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()

    @contextmanager
    def running(self) -> Iterator[MotoServer]:
        self.start()
        try:
            yield self
        finally:
            self.stop()

    def client(self) -> Any:
        """A boto3 client of the stand-in, to create buckets and read them back."""
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
        )

    def new_bucket(self) -> str:
        name = f"venta-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def settings_for(self, bucket: str, **overrides: Any) -> S3Settings:
        values: dict[str, Any] = {
            "bucket": bucket,
            "region": REGION,
            "endpoint_url": self.endpoint,
            "access_key_id": ACCESS_KEY,
            "secret_access_key": SECRET_KEY,
            "addressing_style": "path",
            "connect_timeout_seconds": 1.0,
            "read_timeout_seconds": 5.0,
            "max_attempts": 2,
        }
        values.update(overrides)
        return S3Settings(_env_file=None, **values)


class AnswerDropper:
    """A TCP relay in front of the stand-in that forwards every request but, for ``PUT``
    requests, closes the client's connection instead of relaying the answer: the object is
    stored, and the client never learns it (a lost answer)."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.dropped = 0
        self.port = 0
        self._server: Any = None
        self._relays: set[Any] = set()

    async def start(self) -> None:
        import asyncio

        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        import asyncio

        self._server.close()
        for task in self._relays:
            task.cancel()
        await asyncio.gather(*self._relays, return_exceptions=True)
        await self._server.wait_closed()

    async def _relay(self, reader: Any, writer: Any) -> None:
        import asyncio

        task = asyncio.current_task()
        self._relays.add(task)
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                length, kept = 0, []
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                    if name.strip().lower() == b"expect":  # answered here, not forwarded
                        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                        await writer.drain()
                    else:
                        kept.append(line)
                head = b"\r\n".join(kept)
                body = await reader.readexactly(length) if length else b""
                up_writer.write(head + body)
                await up_writer.drain()
                answer = await _read_answer(up_reader)
                if head.startswith(b"PUT "):
                    self.dropped += 1
                    return  # the finally clause closes the client's connection unanswered
                writer.write(answer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            return
        finally:
            writer.close()
            up_writer.close()
            self._relays.discard(task)


async def _read_answer(reader: Any) -> bytes:
    head: bytes = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    status = head.split(b" ", 2)[1]
    if head.startswith(b"HTTP/1.1 ") and (status in {b"204", b"304"} or length == 0):
        return head
    return head + await reader.readexactly(length)


#: ``async with make_app(...) as (app, client)``: the fixture type of conftest.make_app.
AppFactory = Callable[..., AbstractAsyncContextManager[tuple[Venta, httpx.AsyncClient]]]
