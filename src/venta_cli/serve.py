"""`venta serve ROLE`: choose which roles this process plays."""

from __future__ import annotations

from typing import Annotated

import typer

from venta_cli.errors import settings_or_exit, user_errors
from venta_cli.help import examples
from venta_cli.serve_worker import serve_worker

serve_app = typer.Typer(
    help="Run venta processes. Each role is a command; settings pick the backends.",
    epilog=examples("venta serve all", "venta serve gateway --host 0.0.0.0"),
    no_args_is_help=True,
)

HostOpt = Annotated[
    str | None,
    typer.Option("--host", metavar="HOST", help="Interface to bind (default: VENTA_HTTP__HOST)."),
]
PortOpt = Annotated[
    int | None,
    typer.Option(
        "--port",
        metavar="PORT",
        min=1,
        max=65535,
        help="HTTP port (default: VENTA_HTTP__PORT, 8000).",
    ),
]


def _run(roles: list[str], host: str | None, port: int | None, group: str = "http") -> None:
    settings = settings_or_exit(logs=True)
    section = getattr(settings, group).model_copy(
        update={k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    )
    settings = settings.model_copy(update={group: section})
    from venta_core.runner import run

    with user_errors():
        run(settings, roles)


@serve_app.command(
    "all",
    epilog=examples(
        "venta serve all",
        "venta serve all --host 0.0.0.0 --port 9000",
        "VENTA_DATABASE_URL=postgresql://venta@db/venta venta serve all",
    ),
)
def serve_all(host: HostOpt = None, port: PortOpt = None) -> None:
    """Everything in one process: HTTP gateway with the real-time gateway at /socket.io/ on
    the same port, outbox relay and event handlers (search sync, plugins), on the configured
    backends (embedded SQLite, in-process geo index, bus and stream unless URLs are set)."""
    _run(["gateway", "ws", "worker"], host, port)


@serve_app.command(
    "gateway",
    epilog=examples(
        "venta serve gateway --host 0.0.0.0",
        "VENTA_SERVICES__VENDOR__ADDRESS=vendor:5005 venta serve gateway",
    ),
)
def serve_gateway(host: HostOpt = None, port: PortOpt = None) -> None:
    """The HTTP REST gateway (routes of /v1, seed aliases, /health, /ready, /metrics)."""
    _run(["gateway"], host, port)


@serve_app.command(
    "grpc",
    epilog=examples(
        "venta serve grpc --service vendor",
        "venta serve grpc --service user,location --host 0.0.0.0",
        "venta serve grpc --service vendor --port 6005",
    ),
)
def serve_grpc_cmd(
    service: Annotated[
        str,
        typer.Option(
            "--service",
            "-s",
            metavar="NAMES",
            help="Comma list of services to serve: user, vendor, location (or all).",
        ),
    ] = "all",
    host: Annotated[
        str | None,
        typer.Option("--host", metavar="HOST", help="Interface (default: VENTA_GRPC__HOST)."),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(
            "--port",
            metavar="PORT",
            min=0,
            max=65535,
            help="Port, with exactly one --service (default: 5000/5005/5001; 0: any free port).",
        ),
    ] = None,
) -> None:
    """gRPC servers for domain services (user 5000, vendor 5005, location 5001), each with the
    standard gRPC health service. Gateways reach them via VENTA_SERVICES__<NAME>__ADDRESS."""
    from venta_cli.serve_grpc import serve_grpc

    serve_grpc(service, host, port)


@serve_app.command(
    "ws",
    epilog=examples(
        "venta serve ws --host 0.0.0.0",
        "VENTA_NATS_URL=nats://nats:4222 VENTA_REDIS_URL=redis://redis:6379/0 venta serve ws",
    ),
)
def serve_ws(
    host: Annotated[
        str | None,
        typer.Option("--host", metavar="HOST", help="Interface (default: VENTA_REALTIME__HOST)."),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(
            "--port",
            metavar="PORT",
            min=0,
            max=65535,
            help="Port (default: VENTA_REALTIME__PORT, 8001; 0: any free port).",
        ),
    ] = None,
) -> None:
    """The real-time gateway: Socket.IO v4 at /socket.io/ (namespaces /vendor and /user), with
    /health, /ready and /metrics. Several processes on one NATS behave as one."""
    _run(["ws"], host, port, group="realtime")


serve_app.command(
    "worker",
    epilog=examples(
        "venta serve worker",
        "VENTA_NATS_URL=nats://nats:4222 venta serve worker --host 0.0.0.0",
    ),
)(serve_worker)
