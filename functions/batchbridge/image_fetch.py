"""Fetching an image a batch line gives by URL, for a provider that takes only inline bytes (Bedrock).

The URL is the user's, fetched from inside the gateway's network, so it must not reach what only the gateway can:
https only; the host resolved once and every address it resolves to public (no loopback, private, link-local,
shared or reserved ranges, IPv4-mapped forms included), and the connection made to that checked address (a second
resolution cannot swap it), its certificate verified for the host; redirects followed by hand, each target checked
the same way; a size cap read as a stream, one deadline for the whole fetch; the bytes must be an image of a type the
model takes (the content, not only the Content-Type, decides).
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Final
from urllib.parse import urljoin, urlsplit

import httpx

from batchbridge.domain.images import FetchedImage, ImageFetchError

TIMEOUT_SECONDS: Final = 10.0  # one image, redirects included
MAX_REDIRECTS: Final = 3
_NAT64: Final = ipaddress.ip_network("64:ff9b::/96")
_LOCAL_NAT64: Final = ipaddress.ip_network("64:ff9b:1::/48")  # RFC 8215: a network's own translator
_IPV4_COMPATIBLE: Final = ipaddress.ip_network("::/96")  # the deprecated ::a.b.c.d form
# what the first bytes of each image type are
_SIGNATURES: Final = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)

Resolver = Callable[[str, int], list[str]]


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (for a TCP connection to ``port``)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return []
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def public(address: str) -> bool:
    """Whether ``address`` is on the public internet (not loopback, private, link-local, shared, reserved,
    multicast or unspecified; IPv4 inside IPv6 judged as the IPv4 address it carries)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.is_site_local or ip in _LOCAL_NAT64:
            return False
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif ip in _NAT64 or ip in _IPV4_COMPATIBLE:
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        elif ip.sixtofour is not None:
            ip = ip.sixtofour
    return ip.is_global and not (ip.is_multicast or ip.is_reserved)


@cache
def _verified_tls() -> ssl.SSLContext:
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


@dataclass(frozen=True)
class _Target:
    host: str
    port: int
    address: str  # the checked address the connection goes to
    path: str  # path and query, as the URL gave them


class HttpsImageFetcher:
    """The gateway's ImageFetcher (``domain.images``). ``resolver``, ``allowed`` and ``tls`` are for tests: a local
    image server must be reachable there, never in the product (its composition root passes none of them)."""

    def __init__(
        self,
        *,
        timeout: float = TIMEOUT_SECONDS,
        resolver: Resolver = resolve,
        allowed: Callable[[str], bool] = public,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self._timeout = timeout
        self._resolver = resolver
        self._allowed = allowed
        self._tls = tls

    def fetch(self, url: str, media_types: tuple[str, ...], max_bytes: int) -> FetchedImage:
        deadline = time.monotonic() + self._timeout
        for _ in range(MAX_REDIRECTS + 1):
            target = self._target(url)
            # a client per fetch: a pooled connection to the same address made for another host would skip the
            # check of this host's certificate
            with httpx.Client(verify=self._tls or _verified_tls(), trust_env=False, follow_redirects=False) as client:
                try:
                    request = self._request(client, target, deadline)
                except (httpx.InvalidURL, ValueError):  # (UnicodeError is a ValueError)
                    raise ImageFetchError("the URL is malformed.") from None
                response = self._send(client, request)
                try:
                    if response.is_redirect:
                        url = urljoin(url, response.headers.get("location", ""))
                        continue
                    if response.status_code != 200:
                        raise ImageFetchError(f"it answered HTTP {response.status_code}.")
                    return _image(response, media_types, max_bytes, deadline)
                except httpx.TimeoutException:
                    raise ImageFetchError(f"it took longer than {self._timeout:g} s.") from None
                except httpx.HTTPError as exc:
                    raise ImageFetchError(f"the connection failed ({type(exc).__name__}).") from None
                finally:
                    response.close()
        raise ImageFetchError(f"it redirected more than {MAX_REDIRECTS} times.")

    def _target(self, url: str) -> _Target:
        try:
            parts = urlsplit(url)
            port = parts.port or 443
        except ValueError:
            raise ImageFetchError("the URL is malformed.") from None
        if parts.scheme.lower() != "https":
            raise ImageFetchError("only https URLs are fetched (a redirect led elsewhere).")
        if not parts.hostname or parts.username is not None or parts.password is not None:
            raise ImageFetchError("the URL must name a host and no user or password.")
        try:
            host = parts.hostname if _literal(parts.hostname) else parts.hostname.encode("idna").decode("ascii")
        except UnicodeError:
            raise ImageFetchError("the URL's host name is malformed.") from None
        addresses = [host] if _literal(host) else self._resolver(host, port)
        if not addresses:
            raise ImageFetchError("its host does not resolve.")
        if not all(self._allowed(address) for address in addresses):
            raise ImageFetchError("its host is not a public address; only public hosts are fetched.")
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return _Target(host, port, addresses[0], path)

    def _request(self, client: httpx.Client, target: _Target, deadline: float) -> httpx.Request:
        literal = f"[{target.address}]" if ":" in target.address else target.address
        host = f"[{target.host}]" if ":" in target.host else target.host
        host_header = host if target.port == 443 else f"{host}:{target.port}"
        remaining = max(deadline - time.monotonic(), 0.1)
        return client.build_request(
            "GET",
            f"https://{literal}:{target.port}{target.path}",
            # identity: a compressed body would be inflated whole before the size cap could see it
            headers={"Host": host_header, "Accept": "image/*", "Accept-Encoding": "identity"},
            timeout=httpx.Timeout(remaining, connect=min(remaining, 5.0)),
            extensions={"sni_hostname": target.host},
        )

    def _send(self, client: httpx.Client, request: httpx.Request) -> httpx.Response:
        try:
            return client.send(request, stream=True)
        except httpx.TimeoutException:
            raise ImageFetchError(f"it took longer than {self._timeout:g} s.") from None
        except httpx.HTTPError as exc:
            raise ImageFetchError(f"the connection failed ({type(exc).__name__}).") from None


def _literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _image(response: httpx.Response, media_types: tuple[str, ...], max_bytes: int, deadline: float) -> FetchedImage:
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise ImageFetchError(f"it came {encoding}-encoded; images are fetched uncompressed.")
    declared = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if declared and not declared.startswith("image/") and declared != "application/octet-stream":
        raise ImageFetchError(f"it is not an image (Content-Type {declared}).")
    length = response.headers.get("content-length", "")
    if length.isdigit() and int(length) > max_bytes:
        raise ImageFetchError(f"it is {int(length)} bytes; images are at most {max_bytes} bytes.")
    data = bytearray()
    for chunk in response.iter_raw():
        data += chunk
        if len(data) > max_bytes:
            raise ImageFetchError(f"it is larger than {max_bytes} bytes; images are at most {max_bytes} bytes.")
        if time.monotonic() > deadline:
            raise ImageFetchError("it took too long to arrive.")
    media_type = sniff(bytes(data[:16]))
    if media_type is None or media_type not in media_types:
        shown = media_type or declared or "unknown"
        raise ImageFetchError(f"it is {shown}; the model takes {', '.join(media_types)}.")
    if declared.startswith("image/") and declared.replace("/jpg", "/jpeg") != media_type:
        raise ImageFetchError(f"its Content-Type {declared} does not match its content ({media_type}).")
    return FetchedImage(media_type, bytes(data))


def sniff(head: bytes) -> str | None:
    """The image type the first bytes of a file show (png, jpeg, gif, webp), None for anything else."""
    for signature, media_type in _SIGNATURES:
        if head.startswith(signature):
            return media_type
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None
