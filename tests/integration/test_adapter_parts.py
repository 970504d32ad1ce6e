"""The OpenAI, Anthropic and Gemini adapters creating one job of a part of a large batch (``BatchRequest.part``),
against the fakes: the job holds exactly the part's requests, find_batch finds that part's job only, and what the
adapter made for the part at its provider goes with ``release_part_input``."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from batchbridge.domain.errors import GatewayError
from batchbridge.domain.jsonl import iter_lines_at
from batchbridge.domain.parts import JobLimits, JobPart, plan_parts
from batchbridge.domain.ports import BatchRequest, Credentials
from batchbridge.domain.records import FileRecord, ProviderJob
from batchbridge.domain.services.batch_writes import NOT_IDENTIFIABLE
from batchbridge.providers.anthropic import AnthropicAdapter
from batchbridge.providers.gemini import GeminiAdapter
from batchbridge.providers.keyed import GatewayKeyed
from batchbridge.providers.openai import BATCH_ID_TAG, PART_TAG, OpenAIAdapter

KEY = "sk-parts"
CREDENTIALS = Credentials(KEY)
BATCH_ID = "batch_parts0123456789"
ENDPOINT = "/v1/chat/completions"
CHAT = "gpt-4o-mini"
CLAUDE = "claude-sonnet-4-5"
GEMINI = "gemini-2.5-flash"


def chat_lines(custom_ids: list[str], model: str) -> bytes:
    return b"".join(
        json.dumps(
            {
                "custom_id": custom_id,
                "method": "POST",
                "url": ENDPOINT,
                "body": {"model": model, "max_tokens": 50, "messages": [{"role": "user", "content": custom_id}]},
            }
        ).encode()
        + b"\n"
        for custom_id in custom_ids
    )


def parts_of(content: bytes, per_part: int) -> list[JobPart]:
    return plan_parts(((offset, length) for offset, length, _ in iter_lines_at([content])), JobLimits(per_part))


def opener(content: bytes, part: JobPart | None = None) -> Callable[[], Iterator[bytes]]:
    """Bytes as the gateway's copy gives them: the whole file, or a part's range of it, in small chunks."""
    data = content if part is None else content[part.offset : part.offset + part.length]
    return lambda: iter([data[at : at + 100] for at in range(0, len(data), 100)])


def input_file(
    content: bytes, provider: str, *, provider_file_id: str | None = None, model: str | None = None
) -> FileRecord:
    return FileRecord(
        id="file-gateway0123",
        owner="owner",
        provider=provider,
        provider_file_id=provider_file_id,
        filename="in.jsonl",
        bytes=len(content),
        purpose="batch",
        created_at=1,
        blob_key="files/file-gateway0123",
        request_count=content.count(b"\n"),
        model=model,
    )


def request(content: bytes, file: FileRecord, part: JobPart | None, **extras: Any) -> BatchRequest:
    return BatchRequest(
        batch_id=BATCH_ID,
        input_file=file,
        open_input=opener(content),
        endpoint=ENDPOINT,
        completion_window="24h",
        metadata={"team": "a"},
        output_expires_after_seconds=None,
        extras=extras,
        part=part,
        open_part=None if part is None else opener(content, part),
    )


def lines_of(data: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in data.splitlines() if line.strip()]


# -- OpenAI ---------------------------------------------------------------------------------------------------------


@pytest.fixture
def openai_adapter(fake_openai: tuple[Any, str]) -> OpenAIAdapter:
    return OpenAIAdapter(fake_openai[1], timeout=5)


CUSTOM_IDS = [f"req-{n}" for n in range(7)]


def test_an_openai_part_runs_as_a_batch_on_a_file_of_its_own(
    fake_openai: tuple[Any, str], openai_adapter: OpenAIAdapter
) -> None:
    fake = fake_openai[0].state.fake
    content = chat_lines(CUSTOM_IDS, CHAT)
    parts = parts_of(content, 3)
    assert [(part.first_index, part.count) for part in parts] == [(0, 3), (3, 3), (6, 1)]
    file = input_file(content, "openai", provider_file_id="file-the-users-own")

    report = openai_adapter.create_batch(CREDENTIALS, request(content, file, parts[1]))

    stored = fake.batch_json(report.id)
    assert report.input_location == stored["input_file_id"] != "file-the-users-own"
    assert fake.file_content(stored["input_file_id"]) == content[parts[1].offset : parts[1].offset + parts[1].length]
    assert [line["custom_id"] for line in lines_of(fake.file_content(stored["input_file_id"]))] == CUSTOM_IDS[3:6]
    # the user's metadata, and the part's tag: the batch and the part's number (no whole-batch tag)
    assert stored["metadata"] == {"team": "a", PART_TAG: f"{BATCH_ID}/1"}
    ended = fake.run_to_end(report.id)
    assert ended["status"] == "completed" and ended["request_counts"]["total"] == 3
    assert [line["custom_id"] for line in lines_of(fake.file_content(ended["output_file_id"]))] == CUSTOM_IDS[3:6]


def test_find_batch_finds_an_openai_part_s_own_job_only(
    fake_openai: tuple[Any, str], openai_adapter: OpenAIAdapter
) -> None:
    content = chat_lines(CUSTOM_IDS, CHAT)
    parts = parts_of(content, 3)
    file = input_file(content, "openai", provider_file_id="file-the-users-own")
    created = {
        part.number: openai_adapter.create_batch(CREDENTIALS, request(content, file, part)) for part in parts[:2]
    }
    since = fake_openai[0].state.fake.clock()

    for number in (0, 1):
        found = openai_adapter.find_batch(CREDENTIALS, request(content, file, parts[number]), since)
        assert found is not None and found.id == created[number].id
        assert found.input_location == created[number].input_location
    assert openai_adapter.find_batch(CREDENTIALS, request(content, file, parts[2]), since) is None
    # a request of no part looks for the whole batch's tag, which no part carries
    assert openai_adapter.find_batch(CREDENTIALS, request(content, file, None), since) is None
    whole = openai_adapter.create_batch(
        CREDENTIALS, request(content, input_file(content, "openai", provider_file_id=created[0].input_location), None)
    )
    assert fake_openai[0].state.fake.batch_json(whole.id)["metadata"] == {"team": "a", BATCH_ID_TAG: BATCH_ID}
    found = openai_adapter.find_batch(CREDENTIALS, request(content, file, None), since)
    assert found is not None and found.id == whole.id
    found = openai_adapter.find_batch(CREDENTIALS, request(content, file, parts[0]), since)
    assert found is not None and found.id == created[0].id


def test_release_part_input_deletes_the_part_s_openai_file_only(
    fake_openai: tuple[Any, str], openai_adapter: OpenAIAdapter
) -> None:
    fake = fake_openai[0].state.fake
    content = chat_lines(CUSTOM_IDS, CHAT)
    users = fake.add_file(KEY, content, "in.jsonl", "batch", None).id
    part = parts_of(content, 3)[0]
    report = openai_adapter.create_batch(
        CREDENTIALS, request(content, input_file(content, "openai", provider_file_id=users), part)
    )
    assert report.input_location in fake.file_ids(KEY)

    openai_adapter.release_part_input(CREDENTIALS, ProviderJob(id="", input_location=users))  # no part: left alone
    openai_adapter.release_part_input(
        CREDENTIALS, ProviderJob(id=report.id, input_location=report.input_location, part=part.stored())
    )
    assert fake.file_ids(KEY) == [users]
    # gone already is released
    openai_adapter.release_part_input(
        CREDENTIALS, ProviderJob(id=report.id, input_location=report.input_location, part=part.stored())
    )


@pytest.mark.parametrize("status", [400, 429])
def test_an_openai_part_s_refused_create_leaves_no_file(
    fake_openai: tuple[Any, str], openai_adapter: OpenAIAdapter, status: int
) -> None:
    fake = fake_openai[0].state.fake
    content = chat_lines(CUSTOM_IDS, CHAT)
    fake.inject(status, path_contains="/batches", method="POST", times=3)
    with pytest.raises(GatewayError) as caught:
        openai_adapter.create_batch(
            CREDENTIALS, request(content, input_file(content, "openai"), parts_of(content, 3)[2])
        )
    assert caught.value.status == status
    assert fake.file_ids(KEY) == [] and fake.batch_ids(KEY) == []


# -- Anthropic ------------------------------------------------------------------------------------------------------


@pytest.fixture
def anthropic_adapter(fake_anthropic: tuple[Any, str]) -> AnthropicAdapter:
    return AnthropicAdapter(fake_anthropic[1], timeout=5)


# custom_ids Anthropic refuses (a dot) in both parts: each part's map holds its own
ANTHROPIC_IDS = ["a.0", "a-1", "a.2", "a-3", "a.4"]


def test_an_anthropic_part_sends_the_part_s_requests_and_maps_their_custom_ids(
    fake_anthropic: tuple[Any, str], anthropic_adapter: AnthropicAdapter
) -> None:
    fake = fake_anthropic[0].state.fake
    content = chat_lines(ANTHROPIC_IDS, CLAUDE)
    parts = parts_of(content, 3)
    file = input_file(content, "anthropic", model=CLAUDE)

    reports = [anthropic_adapter.create_batch(CREDENTIALS, request(content, file, part)) for part in parts]

    for report, part in zip(reports, parts, strict=True):
        originals = ANTHROPIC_IDS[part.first_index : part.first_index + part.count]
        assert report.request_counts == {"total": part.count, "completed": 0, "failed": 0}
        assert report.custom_id_map is not None
        assert sorted(report.custom_id_map.values()) == [cid for cid in originals if "." in cid]
        results = lines_of(fake.results_of(KEY, fake.run_to_end(report.id)["id"]))
        back = report.custom_id_map
        assert sorted(back.get(line["custom_id"], line["custom_id"]) for line in results) == sorted(originals)


def test_find_batch_of_an_anthropic_part_looks_for_a_batch_of_the_part_s_size(
    fake_anthropic: tuple[Any, str], anthropic_adapter: AnthropicAdapter
) -> None:
    content = chat_lines(ANTHROPIC_IDS, CLAUDE)
    first, second = parts_of(content, 3)
    file = input_file(content, "anthropic", model=CLAUDE)
    since = int(time.time())
    anthropic_adapter.create_batch(CREDENTIALS, request(content, file, first))
    # a batch of 3 requests may be the first part's (Anthropic holds nothing of ours to tell): not identifiable
    with pytest.raises(GatewayError) as caught:
        anthropic_adapter.find_batch(CREDENTIALS, request(content, file, first), since)
    assert caught.value.code == NOT_IDENTIFIABLE
    # none of 2 requests (the second part's) nor of 5 (the whole file's) was created: none to find
    assert anthropic_adapter.find_batch(CREDENTIALS, request(content, file, second), since) is None
    assert anthropic_adapter.find_batch(CREDENTIALS, request(content, file, None), since) is None


# -- Gemini ---------------------------------------------------------------------------------------------------------


@pytest.fixture
def gemini_adapter(fake_gemini: tuple[Any, str]) -> GeminiAdapter:
    return GeminiAdapter(fake_gemini[1], timeout=5)


def test_a_gemini_part_runs_on_a_file_of_its_own_named_for_the_part(
    fake_gemini: tuple[Any, str], gemini_adapter: GeminiAdapter
) -> None:
    fake = fake_gemini[0].state.fake
    content = chat_lines(CUSTOM_IDS, GEMINI)
    parts = parts_of(content, 3)
    file = input_file(content, "gemini", model=GEMINI)  # kept by the gateway only: Gemini holds none of it

    report = gemini_adapter.create_batch(CREDENTIALS, request(content, file, parts[1]))

    operation = fake.operation(report.id)
    assert operation["metadata"]["displayName"] == f"{BATCH_ID}/part-1"
    assert report.input_location == operation["metadata"]["inputConfig"]["fileName"]
    assert [line["key"] for line in lines_of(fake.file_bytes(report.input_location))] == CUSTOM_IDS[3:6]
    assert report.custom_id_map == {cid: cid for cid in CUSTOM_IDS[3:6]}
    assert list(report.custom_id_map) == CUSTOM_IDS[3:6]  # in the part's order
    assert report.request_counts is not None and report.request_counts["total"] == 3
    assert report.model == GEMINI


def test_find_batch_finds_a_gemini_part_s_own_job_only(
    fake_gemini: tuple[Any, str], gemini_adapter: GeminiAdapter
) -> None:
    content = chat_lines(CUSTOM_IDS, GEMINI)
    parts = parts_of(content, 3)
    file = input_file(content, "gemini", model=GEMINI)
    created = {
        part.number: gemini_adapter.create_batch(CREDENTIALS, request(content, file, part)) for part in parts[:2]
    }
    since = fake_gemini[0].state.fake.clock() // 1_000_000_000 - 60

    for number in (0, 1):
        found = gemini_adapter.find_batch(CREDENTIALS, request(content, file, parts[number]), since)
        assert found is not None and found.id == created[number].id
        assert found.input_location == created[number].input_location
        assert found.custom_id_map == created[number].custom_id_map
    assert gemini_adapter.find_batch(CREDENTIALS, request(content, file, parts[2]), since) is None
    uploaded = input_file(content, "gemini", provider_file_id=created[0].input_location, model=GEMINI)
    assert gemini_adapter.find_batch(CREDENTIALS, request(content, uploaded, None), since) is None


def test_release_part_input_deletes_the_part_s_gemini_file(
    fake_gemini: tuple[Any, str], gemini_adapter: GeminiAdapter
) -> None:
    fake = fake_gemini[0].state.fake
    content = chat_lines(CUSTOM_IDS, GEMINI)
    part = parts_of(content, 3)[2]
    report = gemini_adapter.create_batch(
        CREDENTIALS, request(content, input_file(content, "gemini", model=GEMINI), part)
    )
    assert fake.file_names(KEY) == [report.input_location]
    job = ProviderJob(id=report.id, input_location=report.input_location, part=part.stored())
    gemini_adapter.release_part_input(CREDENTIALS, job)
    assert fake.file_names(KEY) == []
    gemini_adapter.release_part_input(CREDENTIALS, job)  # gone already is released


def test_a_gemini_part_s_refused_create_leaves_no_file(
    fake_gemini: tuple[Any, str], gemini_adapter: GeminiAdapter
) -> None:
    fake = fake_gemini[0].state.fake
    content = chat_lines(CUSTOM_IDS, GEMINI)
    fake.inject(429, path_contains=":batchGenerateContent", method="POST", times=3)
    with pytest.raises(GatewayError) as caught:
        gemini_adapter.create_batch(
            CREDENTIALS, request(content, input_file(content, "gemini", model=GEMINI), parts_of(content, 3)[0])
        )
    assert caught.value.status == 429
    assert fake.file_names(KEY) == [] and fake.batch_names(KEY) == []


def test_in_gateway_key_mode_a_part_s_file_is_released_with_the_gateway_s_key(
    fake_openai: tuple[Any, str], openai_adapter: OpenAIAdapter, fake_anthropic: tuple[Any, str]
) -> None:
    fake = fake_openai[0].state.fake
    content = chat_lines(CUSTOM_IDS, CHAT)
    part = parts_of(content, 3)[0]
    keyed = GatewayKeyed(openai_adapter, lambda: KEY)
    report = keyed.create_batch(Credentials("sk-tenant"), request(content, input_file(content, "openai"), part))
    assert fake.file_ids(KEY) == [report.input_location]  # made with the gateway's key, not the tenant's

    job = ProviderJob(id=report.id, input_location=report.input_location, part=part.stored())
    keyed.release_part_input(Credentials("sk-tenant"), job)
    assert fake.file_ids(KEY) == []
    # an adapter without the optional method has none behind the wrapper either
    assert not hasattr(GatewayKeyed(AnthropicAdapter(fake_anthropic[1], timeout=5), lambda: KEY), "release_part_input")
