"""Contract test: the fake OpenAI's queue full (``fail_validation`` with ``token_limit_error``), read through the
official SDK as OpenAI's own answer: the batch fails during validation with ``token_limit_exceeded``, and the same
input may be submitted again."""

from __future__ import annotations

import openai

from tests.contract.openai_schema import assert_valid
from tests.contract.test_fake_openai import Fake, chat_line, fake, retrieve_raw, upload_batch_input
from tests.fakes.openai_upstream import token_limit_error

__all__ = ["fake"]  # (the fixture, imported for these tests)


def test_a_batch_failed_for_a_full_queue_reads_as_openai_s_and_may_be_sent_again(fake: Fake) -> None:
    client: openai.OpenAI = fake.client()
    input_id = upload_batch_input(client, [chat_line("a", "x"), chat_line("b", "y")])
    fake.state.fail_validation(token_limit_error("gpt-4o-mini"))
    refused = client.batches.create(input_file_id=input_id, endpoint="/v1/chat/completions", completion_window="24h")
    body = retrieve_raw(client, refused.id)
    assert body["status"] == "failed" and isinstance(body["failed_at"], int) and body["in_progress_at"] is None
    (error,) = body["errors"]["data"]
    assert_valid("BatchError", error)
    assert error == {
        "code": "token_limit_exceeded",
        "message": "Enqueued token limit reached for gpt-4o-mini in organization org-x. Limit: 90,000 enqueued "
        "tokens. Please try submitting your requests again later.",
        "param": None,
        "line": None,
    }
    sdk = client.batches.retrieve(refused.id)
    assert sdk.errors is not None and sdk.errors.data is not None
    assert (sdk.errors.data[0].code, sdk.errors.data[0].line) == ("token_limit_exceeded", None)

    again = client.batches.create(input_file_id=input_id, endpoint="/v1/chat/completions", completion_window="24h")
    for _ in range(3):
        body = retrieve_raw(client, again.id)
    assert body["status"] == "completed" and body["request_counts"] == {"total": 2, "completed": 2, "failed": 0}
    client.close()
