"""The batch input check reads line by line and names the first bad line."""

from __future__ import annotations

import io
import json

import pytest

from batchbridge.domain.errors import GatewayError, bad_request
from batchbridge.domain.jsonl import BatchInputChecker, check_batch_input, convert_each


def line(custom_id: str, model: str = "gpt-4o-mini", url: str = "/v1/chat/completions") -> bytes:
    return (
        json.dumps(
            {"custom_id": custom_id, "method": "POST", "url": url, "body": {"model": model, "messages": []}}
        ).encode()
        + b"\n"
    )


def test_summary_of_a_good_file() -> None:
    summary = check_batch_input(io.BytesIO(line("a") + b"\n" + line("b") + line("c")))
    assert (summary.request_count, summary.url, summary.model) == (3, "/v1/chat/completions", "gpt-4o-mini")


def test_no_common_model_when_lines_differ() -> None:
    summary = check_batch_input(io.BytesIO(line("a") + line("b", model="gpt-4o")))
    assert summary.model is None and summary.models == {"gpt-4o-mini", "gpt-4o"}


def test_crlf_and_missing_final_newline() -> None:
    content = line("a").replace(b"\n", b"\r\n") + line("b").rstrip(b"\n")
    assert check_batch_input(io.BytesIO(content)).request_count == 2


@pytest.mark.parametrize(
    ("content", "number", "code"),
    [
        (line("a") + b"oops\n", 2, "invalid_json_line"),
        (line("a") + b"\n" + line("a"), 3, "duplicate_custom_id"),
        (line("a") + line("b", url="/v1/embeddings"), 2, "url_mismatch"),
        (b'{"custom_id": 5, "method": "POST"}\n', 1, "invalid_custom_id"),
        (
            b'{"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": "x"}\n',
            1,
            "invalid_body",
        ),
    ],
)
def test_first_bad_line_is_named(content: bytes, number: int, code: str) -> None:
    with pytest.raises(GatewayError) as caught:
        check_batch_input(io.BytesIO(content))
    assert caught.value.status == 400 and caught.value.code == code and caught.value.param == "file"
    assert f"line {number}:" in caught.value.message


def test_too_many_requests() -> None:
    with pytest.raises(GatewayError) as caught:
        check_batch_input(io.BytesIO(b"".join(line(str(i)) for i in range(4))), max_requests=3)
    assert caught.value.code == "too_many_requests" and "line 4:" in caught.value.message
    assert check_batch_input(io.BytesIO(b"".join(line(str(i)) for i in range(3))), max_requests=3).request_count == 3


def test_overlong_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("batchbridge.domain.jsonl.MAX_LINE_BYTES", 50)
    with pytest.raises(GatewayError) as caught:
        check_batch_input(io.BytesIO(line("a")))
    assert caught.value.code == "line_too_long" and "line 1:" in caught.value.message


def test_deep_nesting_is_a_400_not_a_crash() -> None:
    with pytest.raises(GatewayError) as caught:
        check_batch_input(io.BytesIO(line("a") + b"[" * 200_000 + b"\n"))
    assert caught.value.code == "invalid_json_line" and "line 2:" in caught.value.message


def test_the_checker_a_line_at_a_time_is_the_file_check() -> None:
    checker = BatchInputChecker(max_requests=3)
    checker.check(1, json.loads(line("a")))
    checker.check(3, json.loads(line("b", model="gpt-4o")))
    summary = checker.summary()
    assert (summary.request_count, summary.url) == (2, "/v1/chat/completions")
    assert summary.models == {"gpt-4o-mini", "gpt-4o"}
    with pytest.raises(GatewayError) as caught:
        checker.check(4, json.loads(line("a")))
    assert caught.value.code == "duplicate_custom_id" and caught.value.message == (
        "Invalid batch input file, line 4: duplicate custom_id 'a' (first used on line 1)."
    )
    with pytest.raises(GatewayError) as caught:
        BatchInputChecker().summary()
    assert caught.value.code == "empty_file"


def test_convert_each_holds_the_conversions_first_error_while_the_rest_is_checked() -> None:
    converted: list[str] = []

    def convert(parsed: dict[str, object]) -> None:
        if parsed["custom_id"] in ("b", "c"):
            raise bad_request(f"custom_id {parsed['custom_id']!r}: no.", param="file")
        converted.append(str(parsed["custom_id"]))

    checker = BatchInputChecker()
    error = convert_each(checker.lines(io.BytesIO(line("a") + line("b") + line("c") + line("d"))), convert)
    assert isinstance(error, GatewayError) and error.message == "custom_id 'b': no."
    assert converted == ["a"]  # nothing converted past the first refusal
    assert checker.summary().request_count == 4  # every line checked all the same
    assert convert_each(BatchInputChecker().lines(io.BytesIO(line("a") + line("d"))), convert) is None


def test_convert_each_raises_a_line_the_check_refuses_after_one_the_conversion_refused() -> None:
    def refuse(parsed: dict[str, object]) -> None:
        raise bad_request("no.", param="file")

    content = line("a") + line("b") + line("a")
    with pytest.raises(GatewayError) as caught:
        convert_each(BatchInputChecker().lines(io.BytesIO(content)), refuse)
    assert caught.value.code == "duplicate_custom_id" and "line 3:" in caught.value.message
