"""Tracing across processes: a split deployment on PostgreSQL, Redis and NATS (gRPC services,
gateway, worker and real-time gateway) exports its spans over OTLP/HTTP to a receiver run by
this test. Creating a vendor through the gateway yields one trace holding the gateway's HTTP
server span, its gRPC client span, the vendor process's gRPC server span, the relay's PRODUCER
span of the ``vendor.created`` event and the worker's CONSUMER spans of its handlers, each
process under its own ``service.name``; the processes' JSON log lines carry the trace id. A
vendor's position sent over Socket.IO is a server span of the ws process, above the location
service's gRPC span.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import socketio
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.e2e.processes import VentaProcess, free_port, http_ok, run_cli, wait_until
from tests.e2e.test_split_deployment import START_TIMEOUT, Stack, _token

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@dataclass(frozen=True)
class ReceivedSpan:
    service: str
    trace_id: str
    span_id: str
    parent_id: str
    name: str
    kind: int


class Receiver:
    """An OTLP/HTTP trace receiver on loopback: POST /v1/traces with protobuf bodies."""

    def __init__(self) -> None:
        self.spans: list[ReceivedSpan] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.path == "/v1/traces":
                    receiver.accept(body)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def accept(self, body: bytes) -> None:
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        found = []
        for resource_spans in request.resource_spans:
            attributes = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            service = attributes.get("service.name", "")
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    found.append(
                        ReceivedSpan(
                            service=service,
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_id=span.parent_span_id.hex(),
                            name=span.name,
                            kind=span.kind,
                        )
                    )
        with self._lock:
            self.spans.extend(found)

    def trace(self, trace_id: str) -> list[ReceivedSpan]:
        with self._lock:
            return [s for s in self.spans if s.trace_id == trace_id]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    receiver.thread.start()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


def _server_span(spans: list[ReceivedSpan], service: str, name_part: str) -> ReceivedSpan | None:
    server_kind = 2  # SPAN_KIND_SERVER
    for span in spans:
        if span.service == service and span.kind == server_kind and name_part in span.name:
            return span
    return None


PRODUCER, CONSUMER = 4, 5  # SPAN_KIND_PRODUCER, SPAN_KIND_CONSUMER


def _ancestors(span: ReceivedSpan, spans: list[ReceivedSpan]) -> list[ReceivedSpan]:
    """``span``'s parent, its parent, ... as far as they arrived."""
    by_id = {s.span_id: s for s in spans}
    found = []
    while span.parent_id in by_id and len(found) < len(spans):
        span = by_id[span.parent_id]
        found.append(span)
    return found


def test_one_trace_crosses_gateway_vendor_service_and_worker(
    tmp_path: Path,
    fresh_database: str,
    key_prefix: str,
    receiver: Receiver,  # before processes: it stops after them, so their last export lands
    processes: list[VentaProcess],
) -> None:
    stack = Stack(tmp_path, fresh_database, key_prefix)
    ws_port = free_port()
    ws = VentaProcess(
        "ws",
        ["serve", "ws", "--host", "127.0.0.1", "--port", str(ws_port)],
        dict(stack.gateway.env),  # the gRPC services' addresses
        tmp_path,
        tmp_path / "ws.log",
    )
    worker_port = free_port()
    worker = VentaProcess(
        "worker",
        ["serve", "worker", "--port", str(worker_port)],
        dict(stack.env),
        tmp_path,
        tmp_path / "worker.log",
    )
    otel = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        "VENTA_LOG__FORMAT": "json",
    }
    for process in [*stack.all, worker, ws]:
        process.env.update(otel)
    run_cli(["db", "migrate"], stack.env, tmp_path)
    for process in [*stack.all, worker, ws]:
        processes.append(process.start())
    wait_until(
        "the gateway to be ready",
        lambda: http_ok(f"{stack.base}/ready"),
        START_TIMEOUT,
        watch=stack.all,
    )
    # The worker's consumers exist before the event is stored (they would find it anyway).
    for name, port, process in (("worker", worker_port, worker), ("ws", ws_port, ws)):
        wait_until(
            f"the {name} process to be ready",
            lambda port=port: http_ok(f"http://127.0.0.1:{port}/ready"),
            START_TIMEOUT,
            watch=[process],
        )

    response = httpx.post(
        f"{stack.base}/v1/vendors",
        json={"name": "Traced Tacos", "description": "one trace"},
        headers={**_token("user_traced"), "X-Request-ID": "trace-me"},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    # The traceparent a client would continue from is not returned; the gateway's server span
    # for this request is found by its route instead.
    wait_until(
        "the gateway's server span of POST /v1/vendors",
        lambda: any(
            _server_span(receiver.trace(s.trace_id), "venta-gateway", "/v1/vendors")
            for s in list(receiver.spans)
        ),
        30,
        watch=stack.all,
    )
    http_span = next(
        s
        for s in list(receiver.spans)
        if s.service == "venta-gateway" and s.kind == 2 and s.name.startswith("POST /v1/vendors")
    )

    def vendor_span() -> ReceivedSpan | None:
        return _server_span(receiver.trace(http_span.trace_id), "venta-vendor", "CreateVendor")

    wait_until("the vendor service's span in the same trace", lambda: bool(vendor_span()), 30)
    spans = receiver.trace(http_span.trace_id)
    services = {s.service for s in spans}
    assert {"venta-gateway", "venta-vendor"} <= services, spans
    server = vendor_span()
    assert server is not None
    # The vendor service's span is a child of a gateway span (its gRPC client span).
    parents = {s.span_id: s for s in spans}
    client = parents.get(server.parent_id)
    assert client is not None and client.service == "venta-gateway", (server, spans)
    assert client.kind == 3  # SPAN_KIND_CLIENT
    # The vendor process's SQL statements are spans of the same trace (SQLAlchemy).
    assert any(
        s.service == "venta-vendor" and s.name.split(" ")[0] in {"INSERT", "SELECT", "UPDATE"}
        for s in spans
    ), spans

    # The gateway's log lines of this request carry the trace id.
    gateway_lines = [
        line for line in stack.gateway.json_lines() if line.get("request_id") == "trace-me"
    ]
    assert gateway_lines, stack.gateway.output()[-2000:]
    assert all(line.get("trace_id") == http_span.trace_id for line in gateway_lines), gateway_lines

    # The event path: the relay's publish span is a descendant of the request's span, and the
    # worker handles the event in a consumer span below it.
    def worker_span() -> ReceivedSpan | None:
        for span in receiver.trace(http_span.trace_id):
            if (span.service, span.kind, span.name) == (
                "venta-worker",
                CONSUMER,
                "process vendor.created",
            ):
                return span
        return None

    wait_until("the worker's span in the same trace", lambda: bool(worker_span()), 30)
    consumer = worker_span()
    assert consumer is not None
    wait_until(
        "the whole chain from the worker's span to the gateway's",
        lambda: http_span in _ancestors(consumer, receiver.trace(http_span.trace_id)),
        30,
    )
    chain = _ancestors(consumer, receiver.trace(http_span.trace_id))
    [publish] = [s for s in chain if s.kind == PRODUCER]
    assert publish.name == f"publish {key_prefix}.events.vendor.created", chain
    assert server in chain and client in chain, chain
    services = {s.service for s in receiver.trace(http_span.trace_id)}
    assert {"venta-gateway", "venta-vendor", "venta-worker"} <= services

    # Socket.IO: the vendor's location update is a server span of the ws process, and the
    # location service's gRPC server span is its descendant.
    vendor_id = response.json()["id"]
    asyncio.run(_send_location(f"http://127.0.0.1:{ws_port}", vendor_id, "user_traced"))

    def location_span() -> ReceivedSpan | None:
        for span in list(receiver.spans):
            if span.service == "venta-location" and "UpdateVendorLocation" in span.name:
                return span
        return None

    wait_until("the location service's span", lambda: bool(location_span()), 30)
    location = location_span()
    assert location is not None

    def update_spans() -> list[ReceivedSpan]:
        return [s for s in list(receiver.spans) if s.name == "updateVendorLocation /vendor"]

    # The ws span ends after the call it made, so it may be exported after the service's.
    wait_until("the ws process's span", lambda: bool(update_spans()), 30)
    updates = update_spans()
    assert [s.service for s in updates] == ["venta-ws"], updates
    [update] = updates
    assert update.kind == 2 and location.trace_id == update.trace_id, (update, location)
    wait_until(
        "the chain from the location service's span to the ws span",
        lambda: update in _ancestors(location, receiver.trace(update.trace_id)),
        30,
    )


async def _send_location(base: str, vendor_id: str, owner: str) -> None:
    """The owner's vendor client sends one position over Socket.IO and waits for no error."""
    vendor = socketio.AsyncClient(reconnection=False)
    errors: asyncio.Queue[Any] = asyncio.Queue()
    vendor.on("error", errors.put_nowait, namespace="/vendor")
    try:
        await vendor.connect(
            base,
            namespaces=["/vendor"],
            auth={"token": _token(owner)["Authorization"].removeprefix("Bearer ")},
            transports=["websocket"],
            wait_timeout=30,
        )
        await vendor.call(
            "updateVendorLocation",
            {"vendorId": vendor_id, "lat": 52.52, "long": 13.405},
            namespace="/vendor",
            timeout=30,
        )
    finally:
        await vendor.disconnect()
    assert errors.empty(), errors.get_nowait()
