"""Images given by https URL, made inline (base64 data URLs) for a provider that takes only inline bytes (Bedrock).

The rules live here, the fetching at the edge (``batchbridge.image_fetch``: https only, public addresses only, a
size cap, the content checked): a line's image that cannot be fetched is a 400 naming its custom_id and the URL's
host — never the whole URL, which may carry a token.
"""

from __future__ import annotations

import base64
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Final, NamedTuple, Protocol
from urllib.parse import urlsplit

from batchbridge.domain.errors import GatewayError, bad_request

MAX_IMAGE_BYTES: Final = 5 * 1024 * 1024  # per image: Claude's limit for an image
MAX_FILE_IMAGE_BYTES: Final = 256 * 1024 * 1024  # fetched for one file, all its images together
CACHED_IMAGES: Final = 8  # the same image asked by several lines in a row is fetched once
FETCHES_AT_ONCE: Final = 8  # a file of a few hundred images must convert within a request's 29 s
MAX_PENDING_IMAGES: Final = 32  # fetched ahead of the line being converted, at most (5 MB each)
MAX_LINE_IMAGES: Final = 20  # images one request may hold (Claude on Bedrock's limit)


@dataclass(frozen=True)
class FetchedImage:
    media_type: str  # as the bytes show it (e.g. image/png), one the provider takes
    data: bytes


class _Line(NamedTuple):
    custom_id: str
    media_types: tuple[str, ...]


class ImageFetchError(Exception):
    """Why an image could not be fetched, in words fit for the client (no address or URL of ours in them)."""


class ImageFetcher(Protocol):
    def fetch(self, url: str, media_types: tuple[str, ...], max_bytes: int) -> FetchedImage:
        """The image at https ``url``, of one of ``media_types``, at most ``max_bytes``; ImageFetchError if not."""
        ...


class ImageInliner:
    """Replaces the https image URLs of one file's lines with data URLs, fetching each (a few recent ones cached)
    and counting what the whole file fetched against ``max_file_bytes``. ``make_fetcher`` is called at the first
    image to fetch (a file without any costs nothing).

    ``prefetch`` starts a line's fetches (FETCHES_AT_ONCE at a time) and returns what gives its body once they are
    done, so a conversion can read the next lines meanwhile, keeping the file's order (``busy`` says when to stop
    reading ahead); ``inline`` does both at once. ``close`` stops what is still running."""

    def __init__(
        self,
        make_fetcher: Callable[[], ImageFetcher],
        *,
        max_image_bytes: int = MAX_IMAGE_BYTES,
        max_file_bytes: int = MAX_FILE_IMAGE_BYTES,
    ) -> None:
        self._make_fetcher = make_fetcher
        self._fetcher: ImageFetcher | None = None
        self._max_image_bytes = max_image_bytes
        self._max_file_bytes = max_file_bytes
        self._fetched_bytes = 0
        self._recent: OrderedDict[str, str] = OrderedDict()  # url -> its data URL
        self._pending: dict[str, Future[FetchedImage]] = {}  # url -> its fetch, started ahead
        self._pool: ThreadPoolExecutor | None = None

    @property
    def busy(self) -> bool:
        """Whether enough images are fetched ahead: the conversion should take the lines waiting first."""
        return len(self._pending) >= MAX_PENDING_IMAGES

    def inline(self, body: dict[str, Any], custom_id: str, media_types: tuple[str, ...]) -> dict[str, Any]:
        """``body`` with each https image URL of its messages as a data URL of one of ``media_types`` (a copy where
        anything changed; the rest of the body, and what the translation checks, untouched)."""
        ready = self.prefetch(body, custom_id, media_types)
        return body if ready is None else ready()

    def prefetch(
        self, body: dict[str, Any], custom_id: str, media_types: tuple[str, ...]
    ) -> Callable[[], dict[str, Any]] | None:
        """Starts fetching ``body``'s images; returns what gives the inlined body (waiting for them; a 400 when one
        cannot be had), or None when the body has no image to fetch (most lines: they pay one scan)."""
        messages = body.get("messages")
        if not isinstance(messages, list) or not any(_image_urls(message) for message in messages):
            return None
        urls = [
            part["image_url"]["url"]
            for message in messages
            if _image_urls(message)
            for part in message["content"]
            if _is_url_image(part)
        ]
        if len(urls) > MAX_LINE_IMAGES:
            raise bad_request(
                f"custom_id {custom_id!r}: {len(urls)} images by URL; a request holds at most {MAX_LINE_IMAGES}.",
                param="file",
                code="too_many_images",
            )
        for url in urls:
            self._start(url, media_types)
        line = _Line(custom_id, media_types)

        def inlined() -> dict[str, Any]:
            done = [self._message(message, line) if _image_urls(message) else message for message in messages]
            return {**body, "messages": done}

        return inlined

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        self._pending.clear()

    def _start(self, url: str, media_types: tuple[str, ...]) -> None:
        """Starts fetching ``url`` unless it is at hand or enough is in flight (then it is fetched when its line is
        converted): what is held at once stays bounded, whatever a line holds."""
        if url in self._recent or url in self._pending or self.busy or self._fetched_bytes >= self._max_file_bytes:
            return
        if self._pool is None:
            self._the_fetcher()  # made here, once, not by the first fetches at once
            self._pool = ThreadPoolExecutor(FETCHES_AT_ONCE, thread_name_prefix="image-fetch")
        self._pending[url] = self._pool.submit(self._fetch, url, media_types)

    def _fetch(self, url: str, media_types: tuple[str, ...]) -> FetchedImage:
        return self._the_fetcher().fetch(url, media_types, self._max_image_bytes)

    def _the_fetcher(self) -> ImageFetcher:
        fetcher = self._fetcher
        if fetcher is None:
            fetcher = self._fetcher = self._make_fetcher()
        return fetcher

    def _message(self, message: dict[str, Any], line: _Line) -> dict[str, Any]:
        content = [self._part(part, line) for part in message["content"]]
        return {**message, "content": content}

    def _part(self, part: Any, line: _Line) -> Any:
        if not _is_url_image(part):
            return part
        url: str = part["image_url"]["url"]
        return {**part, "image_url": {**part["image_url"], "url": self._data_url(url, line)}}

    def _data_url(self, url: str, line: _Line) -> str:
        custom_id, media_types = line
        cached = self._recent.get(url)
        if cached is not None:
            self._recent.move_to_end(url)
            return cached
        pending = self._pending.pop(url, None)
        try:
            image = pending.result() if pending is not None else self._fetch(url, media_types)
        except ImageFetchError as exc:
            raise _fetch_failed(custom_id, url, str(exc)) from None
        self._fetched_bytes += len(image.data)
        if self._fetched_bytes > self._max_file_bytes:
            raise bad_request(
                f"custom_id {custom_id!r}: the file's images by URL add up to more than {self._max_file_bytes} "
                "bytes; send fewer per file, or inline them as data: URLs.",
                param="file",
                code="images_too_large",
            )
        data_url = f"data:{image.media_type};base64,{base64.b64encode(image.data).decode('ascii')}"
        self._recent[url] = data_url
        if len(self._recent) > CACHED_IMAGES:
            self._recent.popitem(last=False)
        return data_url


def _image_urls(message: Any) -> bool:
    """Whether a message has an image part given by https URL."""
    content = message.get("content") if isinstance(message, dict) else None
    return isinstance(content, list) and any(_is_url_image(part) for part in content)


def _is_url_image(part: Any) -> bool:
    if not isinstance(part, dict) or part.get("type") != "image_url":
        return False
    image_url = part.get("image_url")
    url = image_url.get("url") if isinstance(image_url, dict) else None
    return isinstance(url, str) and url[:8].lower() == "https://"


def _fetch_failed(custom_id: str, url: str, reason: str) -> GatewayError:
    try:
        host = urlsplit(url).hostname or "?"
    except ValueError:
        host = "?"
    return bad_request(
        f"custom_id {custom_id!r}: the image at {host} could not be fetched: {reason}",
        param="file",
        code="image_fetch_failed",
    )
