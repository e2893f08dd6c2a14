"""Mutual TLS: with certificate settings, only clients holding a certificate of the CA connect."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.grpc.conftest import fast_settings
from tests.grpc.spies import SpyVendors, spy_host
from venta_core.errors import ServiceUnavailable
from venta_core.transports.grpc.clients import GrpcClients
from venta_core.transports.grpc.server import GrpcServer, build_grpc_server
from venta_core.transports.grpc.settings import GrpcSettings

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _issue(name: str, cwd: Path, extension: str) -> None:
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out",
             f"{name}.csr", "-subj", f"/CN={name}", cwd=cwd)  # fmt: skip
    (cwd / f"{name}.ext").write_text(extension)
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-days", "1", "-out", f"{name}.pem", "-extfile", f"{name}.ext",
             cwd=cwd)  # fmt: skip


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA, a server certificate for 127.0.0.1 and a client certificate."""
    cwd = tmp_path_factory.mktemp("pki")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
             "ca.pem", "-days", "1", "-subj", "/CN=venta-test-ca", cwd=cwd)  # fmt: skip
    _issue("server", cwd, "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    _issue("client", cwd, "extendedKeyUsage=clientAuth\n")
    return cwd


def _tls(pki: Path, who: str | None, **extra: object) -> GrpcSettings:
    files: dict[str, object] = {"tls_ca_file": pki / "ca.pem"}
    if who is not None:
        files |= {"tls_cert_file": pki / f"{who}.pem", "tls_key_file": pki / f"{who}.key"}
    return fast_settings(**files, deadline_seconds=2.0, **extra)


@pytest.fixture
async def server(pki: Path) -> AsyncIterator[GrpcServer]:
    settings = _tls(pki, "server")
    server = build_grpc_server(spy_host(settings, SpyVendors()), ["vendor"], "127.0.0.1:0")
    await server.start()
    yield server
    await server.stop(0)


async def _get(settings: GrpcSettings, address: str) -> str:
    clients = GrpcClients(settings)
    try:
        return (await clients.vendors(address).get_vendor("v-tls")).id
    finally:
        await clients.stop()


async def test_a_client_with_a_certificate_connects(server: GrpcServer, pki: Path) -> None:
    assert await _get(_tls(pki, "client"), server.address) == "v-tls"


async def test_clients_without_a_certificate_or_tls_are_refused(
    server: GrpcServer, pki: Path
) -> None:
    for settings in (_tls(pki, None, retry_max_attempts=1), fast_settings(deadline_seconds=1)):
        with pytest.raises(ServiceUnavailable):
            await _get(settings, server.address)


def test_cert_and_key_go_together(pki: Path) -> None:
    with pytest.raises(ValueError, match="together"):
        GrpcSettings(tls_cert_file=pki / "server.pem")
