"""Fetching images given by URL (for Bedrock, which takes inline bytes only): what is fetched, and what never is."""

from __future__ import annotations

import base64
import io
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from batchbridge.domain.errors import GatewayError
from batchbridge.domain.images import FetchedImage, ImageFetchError, ImageInliner
from batchbridge.image_fetch import HttpsImageFetcher, public, resolve, sniff
from batchbridge.providers.bedrock import BedrockRecords
from tests.fakes.image_server import JPEG, PNG, ImageServer, image_server

TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
CAP = 5 * 1024 * 1024


@pytest.fixture(scope="module")
def server() -> Iterator[ImageServer]:
    with image_server() as running:
        yield running


@pytest.fixture(autouse=True)
def _no_requests_yet(server: ImageServer) -> None:
    server.requests.clear()


def test_an_image_is_fetched_as_its_bytes_and_type(server: ImageServer) -> None:
    assert server.fetcher().fetch(server.url("/cat.png"), TYPES, CAP) == FetchedImage("image/png", PNG)
    assert server.fetcher().fetch(server.url("/photo.jpg"), TYPES, CAP) == FetchedImage("image/jpeg", JPEG)
    assert server.requests == ["images.test /cat.png", "images.test /photo.jpg"]


def test_a_redirect_to_a_public_host_is_followed_and_checked(server: ImageServer) -> None:
    assert server.fetcher().fetch(server.url("/to-cat.png"), TYPES, CAP).data == PNG
    assert server.requests == ["images.test /to-cat.png", "cdn.test /cat.png"]


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/to-internal.png", "not a public address"),
        ("/to-metadata.png", "not a public address"),
        ("/to-http.png", "only https"),
        ("/loop.png", "redirected more than 3 times"),
    ],
)
def test_redirects_elsewhere_are_refused_before_any_request_there(
    server: ImageServer, path: str, reason: str
) -> None:
    with pytest.raises(ImageFetchError, match=reason):
        server.fetcher().fetch(server.url(path), TYPES, CAP)
    assert all(request.startswith("images.test ") for request in server.requests)


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/big.png", "larger than 5242880 bytes|is 62"),
        ("/page.html", "not an image \\(Content-Type text/html\\)"),
        ("/drawing.svg", "the model takes"),
        ("/lying.png", "does not match its content"),
        ("/missing.png", "HTTP 404"),
        ("/packed.png", "gzip-encoded"),
    ],
)
def test_what_is_not_a_takeable_image_is_refused(server: ImageServer, path: str, reason: str) -> None:
    with pytest.raises(ImageFetchError, match=reason):
        server.fetcher().fetch(server.url(path), TYPES, CAP)


def test_a_type_the_model_does_not_take_is_refused(server: ImageServer) -> None:
    with pytest.raises(ImageFetchError, match="it is image/jpeg; the model takes image/png"):
        server.fetcher().fetch(server.url("/photo.jpg"), ("image/png",), CAP)


def test_a_slow_image_times_out(server: ImageServer) -> None:
    with pytest.raises(ImageFetchError, match=r"longer than 0\.5 s"):
        server.fetcher(timeout=0.5).fetch(server.url("/slow.png"), TYPES, CAP)


def test_the_certificate_must_be_the_hosts() -> None:
    with image_server() as other:
        # trusts the system's CAs only: the test CA's certificate is refused
        fetcher = HttpsImageFetcher(resolver=lambda host, port: ["127.0.0.1"], allowed=lambda address: True)
        with pytest.raises(ImageFetchError, match="connection failed"):
            fetcher.fetch(other.url("/cat.png"), TYPES, CAP)
        assert other.requests == []


def test_loopback_is_never_fetched_by_the_products_rules(server: ImageServer) -> None:
    with pytest.raises(ImageFetchError, match="not a public address"):
        server.fetcher(allow_loopback=False).fetch(server.url("/cat.png"), TYPES, CAP)
    assert server.requests == []


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/x.png",
        "https://localhost/x.png",
        "https://[::1]/x.png",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::ffff:127.0.0.1]/x.png",
        "https://[::ffff:a9fe:a9fe]/x.png",
        "https://10.0.0.8/x.png",
        "https://192.168.1.1/x.png",
        "https://172.16.0.1/x.png",
        "https://100.64.0.1/x.png",
        "https://0.0.0.0/x.png",
        "https://[fd00::1]/x.png",
        "https://[fe80::1]/x.png",
        "https://[64:ff9b::a00:1]/x.png",
        "https://[2002:a00:1::]/x.png",
        "https://[::7f00:1]/x.png",
        "https://[64:ff9b:1::7f00:1]/x.png",
        "https://[fec0::1]/x.png",
    ],
)
def test_private_targets_are_refused_without_a_connection(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[object] = []
    monkeypatch.setattr("httpx.Client.send", lambda client, request, **kwargs: sent.append(request))
    with pytest.raises(ImageFetchError, match=r"not a public address|does not resolve"):
        HttpsImageFetcher(resolver=resolve, timeout=1).fetch(url, TYPES, CAP)
    assert sent == []


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://images.test/cat.png", "only https"),
        ("https://user:secret@images.test/cat.png", "no user or password"),
        ("https://images.test:99999/cat.png", "malformed"),
        ("https:///cat.png", "must name a host"),
        ("https://images.test/a\x00.png", "malformed"),
        ("https://b\u00fccher.test/cat.png", "does not resolve"),
    ],
)
def test_malformed_urls_are_refused(server: ImageServer, url: str, reason: str) -> None:
    with pytest.raises(ImageFetchError, match=reason):
        server.fetcher().fetch(url, TYPES, CAP)
    assert server.requests == []


def test_an_international_host_is_asked_for_in_its_ascii_form(server: ImageServer) -> None:
    asked: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        asked.append(host)
        return []

    fetcher = HttpsImageFetcher(resolver=resolver)
    with pytest.raises(ImageFetchError, match="does not resolve"):
        fetcher.fetch("https://b\u00fccher.test/cat.png", TYPES, CAP)
    assert asked == ["xn--bcher-kva.test"]


def test_public_addresses() -> None:
    assert public("8.8.8.8") and public("2606:4700:4700::1111")
    assert not any(public(a) for a in ("127.0.0.1", "::1", "10.1.2.3", "169.254.169.254", "224.0.0.1", "not-an-ip"))


def test_sniff() -> None:
    assert sniff(PNG[:16]) == "image/png"
    assert sniff(JPEG[:16]) == "image/jpeg"
    assert sniff(b"GIF89a\x00\x00") == "image/gif"
    assert sniff(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "image/webp"
    assert sniff(b"<svg") is None


# The inliner: the domain's side


class _Fetcher:
    def __init__(self, fail: str | None = None) -> None:
        self.urls: list[str] = []
        self.fail = fail

    def fetch(self, url: str, media_types: tuple[str, ...], max_bytes: int) -> FetchedImage:
        self.urls.append(url)
        if self.fail:
            raise ImageFetchError(self.fail)
        return FetchedImage("image/png", PNG)


def _body(*urls: str) -> dict[str, Any]:
    parts: list[dict[str, Any]] = [{"type": "text", "text": "What is in this image?"}]
    parts += [{"type": "image_url", "image_url": {"url": url, "detail": "low"}} for url in urls]
    return {"model": "m", "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": parts}]}


def test_inliner_replaces_https_urls_with_data_urls_and_leaves_the_rest() -> None:
    fetcher = _Fetcher()
    inline = "data:image/jpeg;base64,AAAA"
    body = _body("https://images.test/a.png", inline, "https://images.test/a.png", "http://plain.test/b.png")
    inlined = ImageInliner(lambda: fetcher).inline(body, "req-1", TYPES)
    parts = inlined["messages"][1]["content"]
    data_url = "data:image/png;base64," + base64.b64encode(PNG).decode()
    assert [part.get("image_url", {}).get("url") for part in parts[1:]] == [
        data_url,
        inline,
        data_url,
        "http://plain.test/b.png",  # not https: the translation's 400 names it
    ]
    assert parts[1]["image_url"]["detail"] == "low"
    assert fetcher.urls == ["https://images.test/a.png"]  # the same image fetched once
    assert body["messages"][1]["content"][1]["image_url"]["url"] == "https://images.test/a.png"  # not changed


def test_inliner_leaves_bodies_without_url_images_as_they_are() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    assert ImageInliner(_Fetcher).inline(body, "x", TYPES) is body


def test_a_failed_fetch_is_a_400_naming_the_custom_id_and_host_only() -> None:
    inliner = ImageInliner(lambda: _Fetcher(fail="it answered HTTP 403."))
    with pytest.raises(GatewayError) as raised:
        inliner.inline(_body("https://images.test/a.png?token=secret"), "req-7", TYPES)
    assert raised.value.status == 400
    assert raised.value.code == "image_fetch_failed"
    assert raised.value.message == (
        "custom_id 'req-7': the image at images.test could not be fetched: it answered HTTP 403."
    )
    assert "secret" not in raised.value.message


def test_a_line_with_more_images_than_a_request_holds_is_refused_before_any_fetch() -> None:
    fetcher = _Fetcher()
    with pytest.raises(GatewayError, match="21 images by URL; a request holds at most 20"):
        ImageInliner(lambda: fetcher).inline(_body(*(f"https://images.test/{n}.png" for n in range(21))), "x", TYPES)
    assert fetcher.urls == []


def test_what_is_fetched_ahead_stays_bounded_whatever_the_lines_hold() -> None:
    release = threading.Event()

    class Held(_Fetcher):
        def fetch(self, url: str, media_types: tuple[str, ...], max_bytes: int) -> FetchedImage:
            release.wait(10)
            return super().fetch(url, media_types, max_bytes)

    fetcher = Held()
    inliner = ImageInliner(lambda: fetcher)
    try:
        lines = [_body(*(f"https://images.test/{line}-{n}.png" for n in range(20))) for line in range(3)]
        ready = [inliner.prefetch(body, f"line-{n}", TYPES) for n, body in enumerate(lines)]
        assert inliner.busy and len(inliner._pending) == 32  # 60 asked, 32 started, the rest fetched in turn
        release.set()
        for done in ready:
            parts = done()["messages"][1]["content"][1:]
            assert all(part["image_url"]["url"].startswith("data:image/png;base64,") for part in parts)
        asked = sorted(f"https://images.test/{line}-{n}.png" for line in range(3) for n in range(20))
        assert sorted(fetcher.urls) == asked
    finally:
        release.set()
        inliner.close()


def test_the_files_images_together_are_capped() -> None:
    inliner = ImageInliner(_Fetcher, max_file_bytes=len(PNG) * 2)
    inliner.inline(_body("https://images.test/1.png", "https://images.test/2.png"), "a", TYPES)
    with pytest.raises(GatewayError, match="more than"):
        inliner.inline(_body("https://images.test/3.png"), "b", TYPES)


# Bedrock's conversion: images fetched several at once, records in the file's order


class _BarrierFetcher:
    """Its first ``together`` fetches answer only once all of them are under way at once (a conversion fetching one
    at a time breaks the barrier at its timeout: BrokenBarrierError, which fails the test); ``fail`` names URLs
    that fail."""

    def __init__(self, together: int, fail: tuple[str, ...] = ()) -> None:
        self.barrier = threading.Barrier(together, timeout=5)
        self.together = together
        self.fail = fail
        self.urls: list[str] = []
        self.lock = threading.Lock()

    def fetch(self, url: str, media_types: tuple[str, ...], max_bytes: int) -> FetchedImage:
        with self.lock:
            self.urls.append(url)
            among_first = len(self.urls) <= self.together
        if among_first:
            self.barrier.wait()
        if url in self.fail:
            raise ImageFetchError("it answered HTTP 404.")
        return FetchedImage("image/png", PNG + url.encode())


def _claude_line(index: int, *urls: str) -> dict[str, Any]:
    body = _body(*urls)
    body["model"] = "anthropic.claude-3-haiku-20240307-v1:0"
    return {"custom_id": f"task-{index}", "method": "POST", "url": "/v1/chat/completions", "body": body}


def _records(fetcher: _BarrierFetcher, lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    records = BedrockRecords(io.BytesIO(), io.BytesIO(), ImageInliner(lambda: fetcher))
    try:
        for line in lines:
            records.add(line)
        records.finish()
        return [json.loads(record) for record in records.target.getvalue().splitlines()]  # type: ignore[attr-defined]
    finally:
        records.close()


def test_bedrock_fetches_a_files_images_several_at_once_and_keeps_its_order() -> None:
    fetcher = _BarrierFetcher(together=4)
    lines = [_claude_line(n, f"https://images.test/{n}.png") for n in range(6)]
    lines.insert(3, _claude_line(99))  # a line without images between them
    records = _records(fetcher, lines)
    assert [record["recordId"] for record in records] == [f"r{n:010d}" for n in range(7)]
    contents = [record["modelInput"]["messages"][0]["content"] for record in records]
    datas = [[block["source"]["data"] for block in content if block["type"] == "image"] for content in contents]
    expected = [[base64.b64encode(PNG + f"https://images.test/{n}.png".encode()).decode()] for n in range(6)]
    assert datas == [*expected[:3], [], *expected[3:]]


def test_bedrock_names_the_first_line_whose_image_fails_in_file_order() -> None:
    fetcher = _BarrierFetcher(together=3, fail=("https://images.test/1.png", "https://images.test/2.png"))
    lines = [_claude_line(n, f"https://images.test/{n}.png") for n in range(3)]
    with pytest.raises(GatewayError, match=r"custom_id 'task-1': the image at images\.test"):
        _records(fetcher, lines)
