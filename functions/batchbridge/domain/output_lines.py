"""Every OpenAI batch-output line the gateway writes, and the ids it derives for them.

A line is ``{"id", "custom_id", "response", "error"}``: ``response`` (``{"status_code", "request_id", "body"}``)
when the request was answered, whatever the status, else ``error`` (``{"code", "message"}``). Each builder gives
``(role, line)``: the role is the file the line goes to, "output" for a 2xx answer and "error" for everything else
(as OpenAI sorts them). Key order is the files' own: the files stay byte for byte what they were.

The translations (``domain.translate``), the executor's answers (``domain.executor.views``) and
the finalizer (``domain.services.result_files``) build their lines here, and nowhere else. These run once per line
of files of up to 200 MB: each is one dict literal.
"""

from __future__ import annotations

import hashlib
from typing import Any, Final

from batchbridge.domain.errors import GatewayError, bad_provider_response

OUTPUT: Final = "output"
ERROR: Final = "error"
CANCELLED: Final = "batch_cancelled"  # the codes of a request the batch never ran
EXPIRED: Final = "batch_expired"
PART_FAILED: Final = "part_failed"  # a request of a split batch's part that failed as a whole (``part_failed``)

Line = tuple[str, dict[str, Any]]  # (role, line)


def success(line_id: str, custom_id: str, body: Any, request_id: str = "") -> Line:
    """A request answered 200 with ``body`` (a chat.completion)."""
    return OUTPUT, {
        "id": line_id,
        "custom_id": custom_id,
        "response": {"status_code": 200, "request_id": request_id, "body": body},
        "error": None,
    }


def http_error(line_id: str, custom_id: str, status: int, body: Any, request_id: str = "") -> Line:
    """A request answered with an error status and its error ``body`` (``error_body``'s shape)."""
    return ERROR, {
        "id": line_id,
        "custom_id": custom_id,
        "response": {"status_code": status, "request_id": request_id, "body": body},
        "error": None,
    }


def answered(line_id: str, custom_id: str, status: int, body: Any, request_id: str = "") -> Line:
    """A request answered with any ``status`` (an endpoint the gateway calls itself): ``success`` or
    ``http_error`` by its status."""
    return OUTPUT if status < 300 else ERROR, {
        "id": line_id,
        "custom_id": custom_id,
        "response": {"status_code": status, "request_id": request_id, "body": body},
        "error": None,
    }


def error_body(message: str, type: str, code: str | None = None) -> dict[str, Any]:
    """An OpenAI error body, as an ``http_error`` line carries it."""
    return {"error": {"message": message, "type": type, "param": None, "code": code}}


def provider_error(line_id: str, custom_id: str, status: int, message: Any, code: str | None) -> Line:
    """A provider's per-request error with an HTTP ``status``: typed by it (invalid_request_error below 500,
    server_error from 500), its message a string whatever the provider gave."""
    text = message if isinstance(message, str) else str(message or "")
    kind = "invalid_request_error" if status < 500 else "server_error"
    return http_error(line_id, custom_id, status, error_body(text, kind, code))


def unrun(line_id: str, custom_id: str, code: str, *, expired: bool = False) -> Line:
    """A request the batch never ran: ``code`` is CANCELLED or EXPIRED. An EXPIRED line says the batch *ended*
    before the request ran (all the gateway knows of a request left out of the results: the batch expired, or
    stopped), unless ``expired``: the provider said this very request expired."""
    what = "was cancelled" if code == CANCELLED else "expired" if expired else "ended"
    return ERROR, {
        "id": line_id,
        "custom_id": custom_id,
        "response": None,
        "error": {"code": code, "message": f"The batch {what} before this request ran."},
    }


def part_failed(line_id: str, custom_id: str, message: str) -> Line:
    """A request of a split batch's part that failed as a whole (its provider refused its job, or failed it):
    ``part_failed``, with the part's error; the batch's other parts ran."""
    return ERROR, {
        "id": line_id,
        "custom_id": custom_id,
        "response": None,
        "error": {"code": PART_FAILED, "message": message},
    }


def failed(line_id: str, custom_id: str, message: str) -> Line:
    """A request sent and never answered (an endpoint the gateway calls itself)."""
    return ERROR, {
        "id": line_id,
        "custom_id": custom_id,
        "response": None,
        "error": {"code": "request_failed", "message": message},
    }


def bad_result(line_id: str, custom_id: str, problem: str) -> Line:
    """A provider's result the gateway could not read (``problem``: what ``bad_response`` said of it)."""
    return ERROR, {
        "id": line_id,
        "custom_id": custom_id,
        "response": None,
        "error": {"code": "provider_bad_result", "message": f"The provider's result could not be read: {problem}"},
    }


def placed(line: dict[str, Any], line_id: str, custom_id: str) -> Line:
    """A line built before its ids were known (``line_id=""``: the executor stores its answers so), given them."""
    placed_line = {**line, "id": line_id, "custom_id": custom_id}
    return role_of(placed_line), placed_line


def role_of(line: dict[str, Any]) -> str:
    """Which file a line belongs in: output for a 2xx answer, error for everything else (as OpenAI does)."""
    response = line.get("response")
    ok = isinstance(response, dict) and isinstance(response.get("status_code"), int) and response["status_code"] < 300
    return OUTPUT if ok else ERROR


def bad_response(provider: str, problem: str) -> GatewayError:
    """The 502 for an answer of ``provider`` the gateway cannot read; a result line's becomes ``bad_result``."""
    return bad_provider_response(f"The {provider} provider returned {problem}.")


def result_line_id(batch_id: str, custom_id: str) -> str:
    """The id of a request's line in a batch's result files: derived, so a second finalizer run writes the same
    lines."""
    return "batch_req_" + hashlib.sha256(f"{batch_id}:{custom_id}".encode()).hexdigest()[:32]


def completion_id(line_id: str) -> str:
    """A chat.completion id derived from the batch line id, for a provider whose answer has none: the same line
    always gets the same id."""
    return "chatcmpl-" + hashlib.sha256(line_id.encode()).hexdigest()[:29]


def tool_call_id(completion_id: str, choice: int, part: int) -> str:
    """A tool call id derived from its chat.completion's id, choice and part, for a provider whose calls have
    none."""
    return "call_" + hashlib.sha256(f"{completion_id}:{choice}:{part}".encode()).hexdigest()[:24]
