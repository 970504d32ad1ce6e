"""A local https image server for the tests of image fetching, with its own CA (``images.test`` and ``cdn.test``
resolve to it through the fetcher's test resolver), and the images it serves."""

from __future__ import annotations

import asyncio
import base64
import datetime
import ssl
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from batchbridge.image_fetch import HttpsImageFetcher
from tests.fakes.server import running_server

HOSTS = ("images.test", "cdn.test")
# a 1x1 PNG, and a minimal JPEG header (what the fetcher looks at is the first bytes)
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 64 + b"\xff\xd9"
BIG_PNG = PNG + b"\x00" * (6 * 1024 * 1024)


@dataclass
class ImageServer:
    port: int
    tls: ssl.SSLContext  # trusts the server's CA
    requests: list[str] = field(default_factory=list)  # "host path" of each request it got

    def url(self, path: str, host: str = "images.test") -> str:
        return f"https://{host}:{self.port}{path}"

    def fetcher(self, *, allow_loopback: bool = True, timeout: float = 10.0) -> HttpsImageFetcher:
        """A fetcher that resolves the test hosts to this server (``internal.test`` to a private address) and, with
        ``allow_loopback``, lets it connect to loopback; otherwise the product's rules."""
        from batchbridge.image_fetch import public

        def resolver(host: str, port: int) -> list[str]:
            if host in HOSTS:
                return ["127.0.0.1"]
            if host == "internal.test":
                return ["10.1.2.3"]
            return []

        allowed = (lambda address: address == "127.0.0.1") if allow_loopback else public
        return HttpsImageFetcher(timeout=timeout, resolver=resolver, allowed=allowed, tls=self.tls)


def _app(server: ImageServer) -> Starlette:
    async def serve(request: Request) -> Response:
        server.requests.append(f"{request.headers.get('host', '').split(':')[0]} {request.url.path}")
        name = request.path_params["name"]
        if name == "cat.png":
            return Response(PNG, media_type="image/png")
        if name == "photo.jpg":
            return Response(JPEG, media_type="image/jpeg")
        if name == "big.png":
            return Response(BIG_PNG, media_type="image/png")
        if name == "page.html":
            return Response(b"<html></html>", media_type="text/html")
        if name == "drawing.svg":
            return Response(b"<svg xmlns='http://www.w3.org/2000/svg'/>", media_type="image/svg+xml")
        if name == "lying.png":
            return Response(JPEG, media_type="image/png")
        if name == "packed.png":  # a small gzip body that inflates far past the cap
            import gzip

            packed = gzip.compress(PNG + b"\x00" * (8 * 1024 * 1024))
            return Response(packed, media_type="image/png", headers={"content-encoding": "gzip"})
        if name == "slow.png":
            await asyncio.sleep(3)
            return Response(PNG, media_type="image/png")
        if name == "to-cat.png":
            return RedirectResponse(f"https://cdn.test:{server.port}/cat.png", status_code=302)
        if name == "to-internal.png":
            return RedirectResponse("https://internal.test/cat.png", status_code=302)
        if name == "to-metadata.png":
            return RedirectResponse("https://169.254.169.254/latest/meta-data/", status_code=301)
        if name == "to-http.png":
            return RedirectResponse(f"http://images.test:{server.port}/cat.png", status_code=302)
        if name == "loop.png":
            return RedirectResponse("/loop.png", status_code=302)
        return Response(b"not found", status_code=404)

    return Starlette(routes=[Route("/{name}", serve)])


def _certificates(directory: Path) -> tuple[str, str, str]:
    """A CA, and a certificate for HOSTS it signed: (CA file, certificate file, key file)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "batchbridge test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOSTS[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host) for host in HOSTS]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_file, cert_file, key_file = directory / "ca.pem", directory / "cert.pem", directory / "key.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(ca_file), str(cert_file), str(key_file)


@contextmanager
def image_server() -> Iterator[ImageServer]:
    with tempfile.TemporaryDirectory() as directory:
        ca_file, cert_file, key_file = _certificates(Path(directory))
        server = ImageServer(port=0, tls=ssl.create_default_context(cafile=ca_file))
        with running_server(_app(server), tls=(cert_file, key_file)) as base_url:
            server.port = urlsplit(base_url).port or 0
            yield server
