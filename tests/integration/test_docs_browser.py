"""/docs (Swagger UI) and /redoc of `batchbridge serve`, rendered by Debian's headless Chromium with no network.

Every request the pages make other than to the gateway on loopback is refused and recorded: none may be made, and
the pages must render all the same. Swagger UI's "Authorize" and "Try it out" upload a file through the gateway to a
fake OpenAI on loopback. .ci/run installs Chromium; without it these tests fail, saying so.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import BrowserContext, ConsoleMessage, Page, Route, expect, sync_playwright

from batchbridge.api.operations import OPERATIONS, PREFIXES
from tests.fakes.openai_upstream import create_app as create_fake_openai
from tests.fakes.server import running_server
from tests.integration.processes import clean_env, serving

pytestmark = pytest.mark.heavy  # a browser and `serve`: some 15 s in all

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--no-sandbox",  # as root, in a container
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 30_000
JSONL = (
    '{"custom_id": "request-1", "method": "POST", "url": "/v1/chat/completions", '
    '"body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello!"}]}}\n'
)


# Redoc's sidebar shows its vendor's logo from its CDN: the pages' Content-Security-Policy (batchbridge.api.docs)
# refuses it before any request is made. Nothing else may even be tried.
KNOWN_REFUSALS = ("https://cdn.redoc.ly/redoc/logo-mini.svg",)


class Browser:
    """A browser context whose requests may go to ``base`` only: the others are refused and kept in ``elsewhere``;
    what the pages' policy refused before any request, in ``refused``."""

    def __init__(self, context: BrowserContext, base: str) -> None:
        self.context = context
        self.base = base
        self.elsewhere: list[str] = []
        self.refused: list[str] = []
        context.set_default_timeout(TIMEOUT_MS)
        context.route("**/*", self._only_the_gateway)
        context.on("console", self._policy_refusal)

    def _policy_refusal(self, message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            self.refused.append(message.text)

    def _only_the_gateway(self, route: Route) -> None:
        url = route.request.url
        if url.startswith(self.base + "/"):
            route.continue_()
        else:
            self.elsewhere.append(url)
            route.abort()

    def open(self, path: str) -> Page:
        page = self.context.new_page()
        page.goto(self.base + path)
        return page


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`batchbridge serve` on the embedded store, its OpenAI upstream a fake on loopback."""
    with running_server(create_fake_openai()) as upstream:
        env = clean_env(BATCHBRIDGE_OPENAI_BASE_URL=upstream + "/v1")
        with serving(env, tmp_path_factory.mktemp("serve") / "serve.log") as (base, _):
            yield base


@pytest.fixture(scope="module")
def document(served: str) -> dict[str, Any]:
    doc: dict[str, Any] = httpx.get(served + "/openapi.json").json()
    return doc


@pytest.fixture(scope="module")
def browser(served: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run installs it)")
    with sync_playwright() as playwright:
        # Debian's Chromium, never a browser of Playwright's own (nothing is downloaded), on a fresh profile.
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=str(CHROMIUM),
            headless=True,
            args=FLAGS,
        )
        try:
            yield Browser(context, served)
        finally:
            context.close()


@pytest.fixture
def offline(browser: Browser) -> Iterator[Browser]:
    """The browser, checked afterwards to have asked nothing of anywhere but the gateway."""
    browser.elsewhere.clear()
    browser.refused.clear()
    yield browser
    assert browser.elsewhere == []
    assert [text for text in browser.refused if not any(url in text for url in KNOWN_REFUSALS)] == []


def test_swagger_ui_shows_every_operation_and_schema(offline: Browser, document: dict[str, Any]) -> None:
    page = offline.open("/docs")
    expect(page.locator(".opblock")).to_have_count(len(OPERATIONS))
    for name, (method, path) in OPERATIONS.items():
        operation = document["paths"][PREFIXES[0] + path][method.lower()]
        block = page.locator(f"#operations-{operation['tags'][0]}-{name}")
        expect(block.locator(".opblock-summary-method")).to_have_text(method)
        expect(block.locator(".opblock-summary-path")).to_have_attribute("data-path", PREFIXES[0] + path)
        block.locator(".opblock-summary-control").click()
        for parameter in operation.get("parameters", []):
            expect(block.locator(f'tr[data-param-name="{parameter["name"]}"]')).to_be_visible()
        if "requestBody" in operation:
            expect(block.locator(".opblock-section-request-body")).to_be_visible()
        for status in operation["responses"]:
            expect(block.locator(f'tr.response[data-code="{status}"]')).to_be_visible()
    # The schemas section, open from the start: each schema under its title (else its name).
    shown = page.locator(
        'section.models article[data-json-schema-level="0"] > div > button .json-schema-2020-12__title'
    )
    expected = sorted(schema.get("title", name) for name, schema in document["components"]["schemas"].items())
    expect(shown).to_have_count(len(expected))
    assert sorted(shown.all_inner_texts()) == expected


def test_authorize_and_try_it_out_upload_a_file(offline: Browser, served: str, tmp_path: Path) -> None:
    upload = tmp_path / "batch_input.jsonl"
    upload.write_text(JSONL)
    page = offline.open("/docs")
    page.locator(".auth-wrapper .authorize").click()
    page.locator(".auth-container input").fill("sk-test")
    page.locator(".auth-btn-wrapper .authorize").click()
    page.locator(".auth-btn-wrapper .btn-done").click()

    block = page.locator("#operations-files-files_create")
    block.locator(".opblock-summary-control").click()
    block.locator(".try-out__btn").click()
    block.locator('tr[data-property-name="file"] input[type="file"]').set_input_files(str(upload))
    expect(block.locator('tr[data-property-name="purpose"] select')).to_have_value("batch")  # the form's default
    expect(block.locator('tr[data-property-name="provider"] select')).to_have_value("openai")
    block.locator(".execute").click()

    answer = block.locator(".live-responses-table tr.response")
    expect(answer.locator(".response-col_status")).to_have_text("200")
    body = answer.locator(".response-col_description pre.microlight").first
    expect(body).to_contain_text('"id": "file-')
    expect(body).to_contain_text('"purpose": "batch"')
    file_id = body.inner_text().split('"id": "', 1)[1].split('"', 1)[0]

    stored = httpx.get(f"{served}/openai/v1/files/{file_id}", headers={"Authorization": "Bearer sk-test"}).json()
    assert (stored["filename"], stored["bytes"], stored["purpose"]) == ("batch_input.jsonl", len(JSONL), "batch")
    content = httpx.get(f"{served}/openai/v1/files/{file_id}/content", headers={"Authorization": "Bearer sk-test"})
    assert content.text == JSONL


def test_redoc_shows_every_operation(offline: Browser, document: dict[str, Any]) -> None:
    page = offline.open("/redoc")
    for name, (method, path) in OPERATIONS.items():
        operation = document["paths"][PREFIXES[0] + path][method.lower()]
        section = page.locator(f'[id="tag/{operation["tags"][0]}/operation/{name}"]')
        expect(section.locator("h2").first).to_have_text(operation["summary"])
        expect(section).to_contain_text(PREFIXES[0] + path)
    files_create = page.locator('[id="tag/files/operation/files_create"]')
    expect(files_create).to_contain_text("multipart/form-data")
    for argument in ("file", "purpose", "expires_after", "provider", "storage_config"):
        expect(files_create.get_by_text(argument, exact=True).first).to_be_visible()
