"""The CLI's HTTP client names why a call failed, also when the error has no message."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from venta_cli.api_client import ApiClient


@pytest.fixture
async def silent_server() -> AsyncIterator[str]:
    """A server that accepts connections and never answers."""
    held: list[asyncio.StreamWriter] = []

    async def accept(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_a_server_that_does_not_answer_is_named_with_the_timeout(silent_server: str) -> None:
    async with ApiClient(silent_server, lambda subject: "token", timeout=0.2) as api:
        with pytest.raises(ConnectionError) as caught:
            await api.call("POST", "/v1/vendors", "someone", {"name": "x"})
    assert str(caught.value) == f"POST {silent_server}/v1/vendors: no answer within 0.2 s"


async def test_a_refused_connection_says_so() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    async with ApiClient(f"http://127.0.0.1:{port}", lambda subject: "token") as api:
        with pytest.raises(ConnectionError) as caught:
            await api.call("GET", "/v1/me", "someone")
    message = str(caught.value)
    assert message.startswith(f"GET http://127.0.0.1:{port}/v1/me: ")
    assert message.rstrip() != f"GET http://127.0.0.1:{port}/v1/me:"
