"""One provider's HTTP API as the httpx adapters talk to it: base URL, auth, error bodies, JSON answers, paging.

Each adapter builds one ``Upstream`` with what is its provider's own (the auth headers, how an error body reads,
how its lists page); the machinery is here once. Every call says whether it is safe to send again: reads and
deletes are (``get``, ``delete``, ``download``, ``pages``); a POST says so itself (``retry_safe``), a create
never is (it may have happened). The retry policy is ``http.call``'s.

``send`` is the one exception: a single attempt whose answer, any status, is the caller's to read, for a caller
with a retry policy of its own (the executor's sender, ``providers.compat``, where an endpoint's error answer is a
result line and not the gateway's error).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property, partial
from typing import Any, TypeVar

import httpx

from batchbridge.domain.errors import GatewayError, bad_provider_response, provider_status
from batchbridge.domain.ports import Credentials
from batchbridge.domain.providers import ProviderSpec
from batchbridge.providers import registry
from batchbridge.providers.http import call, make_client

T = TypeVar("T")
Auth = Callable[[Credentials], dict[str, str]]
ErrorBody = Callable[[httpx.Response], GatewayError]  # an error answer as the gateway's error
JsonObject = dict[str, Any]


def _spec(provider: ProviderSpec | str) -> ProviderSpec:
    """``provider``'s spec: itself, or that of the registered provider of that name (one not registered is known by
    its name alone)."""
    if isinstance(provider, ProviderSpec):
        return provider
    return registry.spec(provider) if provider in registry.MODULES else ProviderSpec(provider, {})


def json_object(body: JsonObject) -> JsonObject:
    """The answer as it is (a JSON object, nothing more checked)."""
    return body


@dataclass(frozen=True)
class Paging:
    """How a provider lists something newest first, a page at a time."""

    size_param: str  # the page size's query parameter ("limit", "pageSize")
    size: int
    token_param: str  # the parameter asking for the page after one ("after", "pageToken")
    items: Callable[[JsonObject], list[JsonObject]]  # a page's items (ValueError, KeyError, TypeError: a 502)
    what: str  # what a page is, for that 502 ("a list of message batches")
    next_token: Callable[[JsonObject, list[JsonObject]], str | None]  # (page, its items) -> the next page's token
    created: Callable[[JsonObject], int | None]  # an item's creation time (unix seconds), None when it shows none


class Upstream:
    """A provider's API (``provider``: its spec, or its name) at ``base_url``. ``auth``: the headers carrying a
    caller's credentials. ``errors``: an error answer as a GatewayError (default: an OpenAI-shaped
    ``{"error": {...}}`` body, kept). ``bad_response``: the 502 for an answer that is not what was asked for, given
    the problem ("HTTP 200 without ..."). ``empty_is_object``: an empty answer reads as ``{}`` (Google's
    ``Empty``)."""

    def __init__(
        self,
        provider: ProviderSpec | str,
        base_url: str,
        *,
        timeout: float,
        transport: httpx.BaseTransport | None,
        auth: Auth,
        errors: ErrorBody | None = None,
        bad_response: Callable[[str], GatewayError] | None = None,
        empty_is_object: bool = False,
    ) -> None:
        spec = _spec(provider)
        self.provider = spec.name
        self._client_args = (base_url.rstrip("/") + "/", timeout, transport)
        self._auth = auth
        self._errors: ErrorBody = errors or partial(upstream_error, spec)
        self._bad_response = bad_response or self._answered_without
        self._empty_is_object = empty_is_object
        self._building = threading.Lock()

    @cached_property
    def client(self) -> httpx.Client:
        """Built on first use (see ``make_client``), and once: threads calling at the same time share it (a
        cached_property alone may build one per thread, leaving all but one unclosed)."""
        with self._building:
            built: httpx.Client | None = self.__dict__.get("client")
            if built is None:
                built = self.__dict__["client"] = make_client(*self._client_args)
            return built

    # calls
    def request(
        self,
        method: str,
        path: str,
        credentials: Credentials,
        *,
        retry_safe: bool,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """The provider's answer to ``method path`` (a relative path joins the base URL), with the caller's
        credentials and ``headers``; an error answer raises. ``retry_safe``: see ``http.call``."""
        sent = self._auth(credentials) | (headers or {})
        response = call(
            self.provider, lambda: self.client.request(method, path, headers=sent, **kwargs), retry=retry_safe
        )
        if response.is_error:
            raise self._errors(response)
        return response

    def send(
        self,
        method: str,
        path: str,
        credentials: Credentials,
        *,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """One attempt at ``method path``, its answer whatever its status (read, nothing raised for it); a failure
        to send or to read the answer raises httpx's own exception, for the caller's retry policy to judge (one
        that never reached the provider is not one that may have). The call's ``headers``, then the credentials'
        (which a call's never replace)."""
        sent = (headers or {}) | self._auth(credentials)
        return self.client.request(method, path, headers=sent, **kwargs)

    def get(
        self,
        path: str,
        credentials: Credentials,
        *,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """A read: retried."""
        return self.request("GET", path, credentials, retry_safe=True, params=params, headers=headers)

    def delete(self, path: str, credentials: Credentials) -> httpx.Response:
        """A delete: retried (deleting twice deletes once)."""
        return self.request("DELETE", path, credentials, retry_safe=True)

    def post(self, path: str, credentials: Credentials, *, retry_safe: bool, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, credentials, retry_safe=retry_safe, **kwargs)

    def get_json(
        self,
        path: str,
        credentials: Credentials,
        parse: Callable[[JsonObject], T],
        *,
        what: str,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> T:
        """``parse`` of the JSON object read (see ``parsed``)."""
        return self.parsed(self.get(path, credentials, params=params, headers=headers), parse, what=what)

    def post_json(
        self,
        path: str,
        credentials: Credentials,
        parse: Callable[[JsonObject], T],
        *,
        what: str,
        retry_safe: bool,
        **kwargs: Any,
    ) -> T:
        """``parse`` of the JSON object answered (see ``parsed``)."""
        return self.parsed(self.post(path, credentials, retry_safe=retry_safe, **kwargs), parse, what=what)

    def download(self, path: str, credentials: Credentials, *, errors: ErrorBody | None = None) -> httpx.Response:
        """A streaming answer with a success status (the caller reads and closes it: nothing is buffered); an
        error status raises (read by ``errors`` when given). A read: retried."""
        request = self.client.build_request("GET", path, headers=self._auth(credentials))
        response = call(self.provider, lambda: self.client.send(request, stream=True), retry=True)
        if response.is_error:
            try:
                response.read()
            finally:
                response.close()
            raise (errors or self._errors)(response)
        return response

    def pages(self, path: str, credentials: Credentials, paging: Paging, *, since: int) -> Iterator[JsonObject]:
        """The items listed at ``path``, newest first, a page after another back in time: the last page read is
        the last there is, or the first reaching back before ``since`` (an item created earlier than it)."""
        token: str | None = None
        while True:
            params: dict[str, Any] = {paging.size_param: paging.size} | ({paging.token_param: token} if token else {})
            page, items = self.get_json(
                path, credentials, lambda page: (page, paging.items(page)), what=paging.what, params=params
            )
            yield from items
            oldest = min((at for at in map(paging.created, items) if at is not None), default=None)
            if not items or (oldest is not None and oldest < since):
                return
            token = paging.next_token(page, items)
            if not token:
                return

    # answers
    def parsed(self, response: httpx.Response, parse: Callable[[JsonObject], T], *, what: str) -> T:
        """``parse`` of the JSON object answered; anything else (not JSON, not an object, or an object ``parse``
        fails on with ValueError, KeyError or TypeError) is a 502 ``provider_bad_response`` naming the provider."""
        try:
            body = {} if self._empty_is_object and not response.content else response.json()
            if isinstance(body, dict):
                return parse(body)
        except (ValueError, KeyError, TypeError):
            pass
        raise self._bad_response(f"HTTP {response.status_code} without {what}")

    def _answered_without(self, problem: str) -> GatewayError:
        return bad_provider_response(f"The {self.provider} provider answered {problem}.")


def upstream_error(provider: ProviderSpec | str, response: httpx.Response) -> GatewayError:
    """The provider's (its spec, or its name) error, kept: its status, and the message, type, param and code it
    gave."""
    spec = _spec(provider)
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        error = None
    status = provider_status(response.status_code)
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        message = error["message"]  # the provider's own words, as it sent them
        if status == 429 or status >= 500:  # a final failure says whose it was
            message = f"{spec.display_name}: {message}"
        return GatewayError(
            status,
            message,
            type=str(error.get("type") or "upstream_error"),
            param=error.get("param") if isinstance(error.get("param"), str) else None,
            code=error.get("code") if isinstance(error.get("code"), str) else None,
        )
    return GatewayError(
        status,
        f"The {spec.name} provider answered HTTP {response.status_code}.",
        type="upstream_error",
        code="provider_error",
    )
