"""`venta serve ROLE`: choose which roles this process plays."""

from __future__ import annotations

from typing import Annotated

import typer

from venta_cli.errors import settings_or_exit, user_errors
from venta_cli.serve_worker import serve_worker

serve_app = typer.Typer(
    help="Run venta processes. Each role is a command; settings pick the backends.",
    no_args_is_help=True,
)

HostOpt = Annotated[
    str | None, typer.Option("--host", help="Interface to bind (default: VENTA_HTTP__HOST).")
]
PortOpt = Annotated[
    int | None, typer.Option("--port", help="HTTP port (default: VENTA_HTTP__PORT, 8000).")
]


def _run(roles: list[str], host: str | None, port: int | None, group: str = "http") -> None:
    settings = settings_or_exit()
    section = getattr(settings, group).model_copy(
        update={k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    )
    settings = settings.model_copy(update={group: section})
    from venta_core.runner import run

    with user_errors():
        run(settings, roles)


@serve_app.command("all")
def serve_all(host: HostOpt = None, port: PortOpt = None) -> None:
    """Everything in one process: HTTP gateway with the real-time gateway at /socket.io/ on
    the same port, outbox relay and event handlers (search sync, plugins), on the configured
    backends (embedded SQLite, in-process geo index, bus and stream unless URLs are set)."""
    _run(["gateway", "ws", "worker"], host, port)


@serve_app.command("gateway")
def serve_gateway(host: HostOpt = None, port: PortOpt = None) -> None:
    """The HTTP REST gateway (routes of /v1, seed aliases, /health, /ready, /metrics)."""
    _run(["gateway"], host, port)


@serve_app.command("grpc")
def serve_grpc_cmd(
    service: Annotated[
        str,
        typer.Option(
            "--service",
            "-s",
            help="Comma list of services to serve: user, vendor, location (or all).",
        ),
    ] = "all",
    host: Annotated[
        str | None, typer.Option("--host", help="Interface (default: VENTA_GRPC__HOST).")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option("--port", help="Port, with exactly one --service (default: 5000/5005/5001)."),
    ] = None,
) -> None:
    """gRPC servers for domain services (user 5000, vendor 5005, location 5001), each with the
    standard gRPC health service. Gateways reach them via VENTA_SERVICES__<NAME>__ADDRESS."""
    from venta_cli.serve_grpc import serve_grpc

    serve_grpc(service, host, port)


@serve_app.command("ws")
def serve_ws(
    host: Annotated[
        str | None, typer.Option("--host", help="Interface (default: VENTA_REALTIME__HOST).")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option("--port", help="Port (default: VENTA_REALTIME__PORT, 8001)."),
    ] = None,
) -> None:
    """The real-time gateway: Socket.IO v4 at /socket.io/ (namespaces /vendor and /user), with
    /health, /ready and /metrics. Several processes on one NATS behave as one."""
    _run(["ws"], host, port, group="realtime")


serve_app.command("worker")(serve_worker)
