"""The guarded transport connects to the checked address but speaks TLS to the name: SNI and certificate
verification are the URL's host, so pinning the address does not weaken HTTPS."""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from ipaddress import ip_network
from pathlib import Path

import httpx
import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from calltrax.outbound import DestinationRefused, GuardedTransport
from domain.destinations import DestinationPolicy
from tests.conftest import free_port

NAME = "hooks.tls.test"


def _certificate(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for NAME only (not for 127.0.0.1); returns (ca, cert, key) files."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "CallTrax test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, NAME)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(NAME)]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_file, cert_file, key_file = tmp_path / "ca.pem", tmp_path / "cert.pem", tmp_path / "key.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return ca_file, cert_file, key_file


@asynccontextmanager
async def tls_server(cert: Path, key: Path, seen: list[str]) -> AsyncIterator[int]:
    async def hook(request: Request) -> Response:
        seen.append(request.headers["host"])
        return JSONResponse({"ok": True})

    app = Starlette(routes=[Route("/hook", hook, methods=["POST"])])
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_config=None, ssl_certfile=str(cert), ssl_keyfile=str(key)
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield port
    finally:
        server.should_exit = True
        await task


async def resolve(host: str, port: int) -> Sequence[str]:
    return ["127.0.0.1"]


def _client(policy: DestinationPolicy, ca: Path) -> httpx.AsyncClient:
    context = ssl.create_default_context(cafile=str(ca))
    inner = httpx.AsyncHTTPTransport(verify=context, limits=httpx.Limits(max_keepalive_connections=0))
    transport = GuardedTransport(policy, resolver=resolve, inner=inner)
    return httpx.AsyncClient(transport=transport, trust_env=False)


async def test_https_to_a_pinned_address_verifies_the_certificate_for_the_name(tmp_path: Path) -> None:
    ca, cert, key = _certificate(tmp_path)
    seen: list[str] = []
    loopback = DestinationPolicy(allowed_networks=(ip_network("127.0.0.1/32"),))
    async with tls_server(cert, key, seen) as port, _client(loopback, ca) as client:
        answer = await client.post(f"https://{NAME}:{port}/hook", content=b"{}")
        assert answer.status_code == 200
        assert seen == [f"{NAME}:{port}"]
        # Another name on the same address: its certificate does not cover that name, so no request.
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await client.post(f"https://other.tls.test:{port}/hook", content=b"{}")
        # And the address itself is not what the certificate names either.
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await client.post(f"https://127.0.0.1:{port}/hook", content=b"{}")
        assert len(seen) == 1


async def test_the_default_policy_refuses_before_connecting(tmp_path: Path) -> None:
    ca, cert, key = _certificate(tmp_path)
    seen: list[str] = []
    async with tls_server(cert, key, seen) as port, _client(DestinationPolicy(), ca) as client:
        for url in (f"https://{NAME}:{port}/hook", f"https://127.0.0.1:{port}/hook"):
            with pytest.raises(DestinationRefused, match="loopback"):
                await client.post(url, content=b"{}")
    assert seen == []
