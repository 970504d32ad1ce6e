"""Contract test: drive the fake Bedrock control plane (tests/fakes/bedrock_upstream.py) with boto3's ``bedrock``
client, against S3 faked by moto, so the fake stays honest to the wire (Bedrock's API reference)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import anthropic
import boto3
import httpx
import jsonschema
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto import mock_aws

from tests.fakes.bedrock_upstream import FakeBedrockState, create_app
from tests.fakes.server import running_server

IN_BUCKET = "bb-bedrock-in"
OUT_BUCKET = "bb-bedrock-out"
ROLE = "arn:aws:iam::123456789012:role/BedrockBatchRole"
CLAUDE = "anthropic.claude-3-haiku-20240307-v1:0"
JOB_ARN = re.compile(r"arn:aws:bedrock:us-east-1:123456789012:model-invocation-job/([a-z0-9]{12})")


@dataclass
class Env:
    fake: FakeBedrockState
    base: str
    s3: Any
    bedrock: Any  # no retries, so injected errors surface at once


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, boto3_models: Callable[[], None]) -> Iterator[Env]:
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_BEDROCK", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        boto3_models()
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=IN_BUCKET)
        s3.create_bucket(Bucket=OUT_BUCKET)
        app = create_app()
        with running_server(app) as base:
            bedrock = boto3.client(
                "bedrock",
                endpoint_url=base,
                region_name="us-east-1",
                config=Config(retries={"total_max_attempts": 1, "mode": "standard"}),
            )
            yield Env(app.state.fake, base, s3, bedrock)


def put_jsonl(s3: Any, key: str, records: list[dict[str, Any]]) -> str:
    s3.put_object(Bucket=IN_BUCKET, Key=key, Body="".join(json.dumps(r) + "\n" for r in records).encode())
    return f"s3://{IN_BUCKET}/{key}"


def claude_input(text: str, **extra: Any) -> dict[str, Any]:
    return {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": text}],
        **extra,
    }


def create(bedrock: Any, name: str, input_uri: str, model_id: str = CLAUDE, **extra: Any) -> str:
    response = bedrock.create_model_invocation_job(
        jobName=name,
        roleArn=ROLE,
        modelId=model_id,
        inputDataConfig={"s3InputDataConfig": {"s3Uri": input_uri, "s3InputFormat": "JSONL"}},
        outputDataConfig={"s3OutputDataConfig": {"s3Uri": f"s3://{OUT_BUCKET}/results/"}},
        **extra,
    )
    return str(response["jobArn"])


def read_out(s3: Any, key: str) -> list[dict[str, Any]]:
    body = s3.get_object(Bucket=OUT_BUCKET, Key=key)["Body"].read().decode()
    return [json.loads(line) for line in body.splitlines() if line.strip()]


def manifest(s3: Any, job_id: str) -> dict[str, Any]:
    key = f"results/{job_id}/manifest.json.out"
    return dict(json.loads(s3.get_object(Bucket=OUT_BUCKET, Key=key)["Body"].read()))


def out_keys(s3: Any, job_id: str) -> list[str]:
    listed = s3.list_objects_v2(Bucket=OUT_BUCKET, Prefix=f"results/{job_id}/")
    return sorted(o["Key"] for o in listed.get("Contents", []))


def error_code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def test_create_get_until_completed_with_full_arn(env: Env) -> None:
    uri = put_jsonl(
        env.s3,
        "in/batch1.jsonl",
        [
            {"recordId": "REC00000001", "modelInput": claude_input("hello one")},
            {"recordId": "REC00000002", "modelInput": claude_input("bad", force_error=True)},
            {
                "recordId": "REC00000003",
                "modelInput": claude_input(
                    "ignored",
                    messages=[
                        {"role": "user", "content": "first"},
                        {"role": "assistant", "content": "ok"},
                        {
                            "role": "user",
                            "content": [{"type": "text", "text": "hello "}, {"type": "text", "text": "3"}],
                        },
                    ],
                ),
            },
        ],
    )
    arn = create(env.bedrock, "job-one", uri, clientRequestToken="token-1", timeoutDurationInHours=72)
    match = JOB_ARN.fullmatch(arn)
    assert match is not None
    job_id = match.group(1)

    # idempotency: same token + same parameters -> same ARN, no new job
    assert create(env.bedrock, "job-one", uri, clientRequestToken="token-1", timeoutDurationInHours=72) == arn
    assert env.fake.job_ids() == [job_id]
    with pytest.raises(ClientError) as conflict:
        create(env.bedrock, "job-one", uri, clientRequestToken="token-1", timeoutDurationInHours=48)
    assert error_code(conflict) == "ConflictException"
    assert conflict.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400

    create_request = next(r for r in env.fake.requests if r.method == "POST")
    assert create_request.path == "/model-invocation-job"
    assert create_request.json()["clientRequestToken"] == "token-1"
    assert re.match(
        r"AWS4-HMAC-SHA256 Credential=\w+/\d{8}/us-east-1/bedrock/aws4_request", create_request.headers["authorization"]
    )

    statuses = []
    job: dict[str, Any] = {}
    for _ in range(6):
        job = env.bedrock.get_model_invocation_job(jobIdentifier=arn)
        statuses.append(job["status"])
        if job["status"] == "Completed":
            break
    assert statuses == ["Validating", "Scheduled", "InProgress", "Completed"]

    get_request = env.fake.requests[-1]
    assert get_request.raw_path == "/model-invocation-job/" + arn.replace(":", "%3A").replace("/", "%2F")
    assert get_request.path == f"/model-invocation-job/{arn}"
    assert re.fullmatch(r"[0-9a-f-]{36}", job["ResponseMetadata"]["RequestId"])

    assert job["jobArn"] == arn
    assert job["jobName"] == "job-one"
    assert job["modelId"] == CLAUDE
    assert job["roleArn"] == ROLE
    assert job["clientRequestToken"] == "token-1"
    assert job["timeoutDurationInHours"] == 72
    assert job["inputDataConfig"] == {"s3InputDataConfig": {"s3Uri": uri, "s3InputFormat": "JSONL"}}
    assert job["outputDataConfig"] == {"s3OutputDataConfig": {"s3Uri": f"s3://{OUT_BUCKET}/results/"}}
    assert isinstance(job["submitTime"], datetime)
    assert isinstance(job["endTime"], datetime)
    assert job["endTime"] >= job["submitTime"]
    assert (job["jobExpirationTime"] - job["submitTime"]).total_seconds() == 72 * 3600
    assert "message" not in job
    assert (job["totalRecordCount"], job["processedRecordCount"]) == (3, 3)
    assert (job["successRecordCount"], job["errorRecordCount"]) == (2, 1)

    # the bare 12-char id works too, and a final job no longer moves
    assert env.bedrock.get_model_invocation_job(jobIdentifier=job_id)["status"] == "Completed"

    assert out_keys(env.s3, job_id) == [f"results/{job_id}/batch1.jsonl.out", f"results/{job_id}/manifest.json.out"]
    lines = read_out(env.s3, f"results/{job_id}/batch1.jsonl.out")
    assert [line["recordId"] for line in lines] == ["REC00000003", "REC00000002", "REC00000001"]  # shuffled
    by_id = {line["recordId"]: line for line in lines}
    first = by_id["REC00000001"]
    assert first["modelInput"] == claude_input("hello one")
    out = first["modelOutput"]
    assert out["id"].startswith("msg_bdrk_")
    assert out["type"] == "message"
    assert out["role"] == "assistant"
    assert out["model"] == CLAUDE
    assert out["content"] == [{"type": "text", "text": "echo: hello one"}]
    assert out["stop_reason"] == "end_turn"
    assert out["stop_sequence"] is None
    assert out["usage"] == {"input_tokens": 2, "output_tokens": 3}
    assert by_id["REC00000003"]["modelOutput"]["content"][0]["text"] == "echo: hello 3"
    assert by_id["REC00000002"]["error"] == {"errorCode": 400, "errorMessage": "Malformed input request"}
    assert "modelOutput" not in by_id["REC00000002"]

    assert manifest(env.s3, job_id) == {
        "totalRecordCount": 3,
        "processedRecordCount": 3,
        "successRecordCount": 2,
        "errorRecordCount": 1,
        "inputTokenCount": 2 + 4,  # "hello one" + "first ok hello 3"
        "outputTokenCount": 3 + 3,
    }


@pytest.mark.parametrize(
    ("model_id", "model_input", "check"),
    [
        (
            "us.anthropic.claude-3-5-haiku-20241022-v1:0",
            claude_input("via profile", system="be brief"),
            lambda out: out["content"][0]["text"] == "echo: via profile" and out["usage"]["input_tokens"] == 4,
        ),
        (
            "amazon.nova-lite-v1:0",
            {
                "schemaVersion": "messages-v1",
                "system": [{"text": "be brief"}],
                "messages": [
                    {"role": "user", "content": [{"text": "old"}]},
                    {"role": "assistant", "content": [{"text": "sure"}]},
                    {"role": "user", "content": [{"text": "nova "}, {"text": "please"}]},
                ],
                "inferenceConfig": {"maxTokens": 32},
            },
            lambda out: (
                out
                == {
                    "output": {"message": {"role": "assistant", "content": [{"text": "echo: nova please"}]}},
                    "stopReason": "end_turn",
                    "usage": {"inputTokens": 6, "outputTokens": 3, "totalTokens": 9},
                }
            ),
        ),
        (
            "us.meta.llama3-1-8b-instruct-v1:0",
            {
                "prompt": "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief<|eot_id|>"
                "<|start_header_id|>user<|end_header_id|>\n\n  llama time \n<|eot_id|>"
                "<|start_header_id|>assistant<|end_header_id|>\n\n",
                "max_gen_len": 64,
                "temperature": 0.2,
            },
            lambda out: (
                out["generation"] == "echo: llama time"
                and out["stop_reason"] == "stop"
                and out["generation_token_count"] == 3
                and out["prompt_token_count"] >= 1
            ),
        ),
        (
            "mistral.mistral-7b-instruct-v0:2",
            {"prompt": "<s>[INST] first [/INST] answer</s>[INST]  mistral here [/INST]", "max_tokens": 50},
            lambda out: out == {"outputs": [{"text": "echo: mistral here", "stop_reason": "stop"}]},
        ),
    ],
)
def test_model_families(env: Env, model_id: str, model_input: dict[str, Any], check: Any) -> None:
    uri = put_jsonl(env.s3, "fam/input.jsonl", [{"recordId": "R1", "modelInput": model_input}])
    arn = create(env.bedrock, "family-job", uri, model_id=model_id)
    job_id = arn.rsplit("/", 1)[-1]
    assert env.fake.run_to_end(job_id)["status"] == "Completed"
    [line] = read_out(env.s3, f"results/{job_id}/input.jsonl.out")
    assert line["recordId"] == "R1"
    assert line["modelInput"] == model_input
    assert check(line["modelOutput"]), line["modelOutput"]


MOVIE: dict[str, Any] = {
    "type": "object",
    "properties": {"categories": {"type": "array", "items": {"type": "string"}}, "summary": {"type": "string"}},
    "required": ["categories", "summary"],
    "additionalProperties": False,
}
FORCED_TOOL = "batchbridge_json_response"


def test_structured_answers_and_forced_tools(env: Env) -> None:
    """What the gateway sends for response_format: Claude's modelOutput read by the anthropic SDK's own Message type,
    Nova's shaped as its InvokeModel response (a toolUse block), each input matching the schema."""
    claude_records = [
        {
            "recordId": "F1",
            "modelInput": claude_input("film", output_config={"format": {"type": "json_schema", "schema": MOVIE}}),
        },
        {
            "recordId": "F2",
            "modelInput": claude_input(
                "film",
                tools=[{"name": FORCED_TOOL, "input_schema": MOVIE}],
                tool_choice={"type": "tool", "name": FORCED_TOOL},
            ),
        },
    ]
    uri = put_jsonl(env.s3, "structured/claude.jsonl", claude_records)
    job_id = create(env.bedrock, "structured-claude", uri).rsplit("/", 1)[-1]
    assert env.fake.run_to_end(job_id)["status"] == "Completed"
    by_id = {line["recordId"]: line["modelOutput"] for line in read_out(env.s3, f"results/{job_id}/claude.jsonl.out")}
    native = anthropic.types.Message.model_validate(by_id["F1"])
    assert native.stop_reason == "end_turn" and isinstance(native.content[0], anthropic.types.TextBlock)
    jsonschema.validate(json.loads(native.content[0].text), MOVIE)
    forced = anthropic.types.Message.model_validate(by_id["F2"])
    assert forced.stop_reason == "tool_use" and isinstance(forced.content[0], anthropic.types.ToolUseBlock)
    assert forced.content[0].name == FORCED_TOOL
    jsonschema.validate(forced.content[0].input, MOVIE)

    nova_input = {
        "schemaVersion": "messages-v1",
        "messages": [{"role": "user", "content": [{"text": "film"}]}],
        "toolConfig": {
            "tools": [{"toolSpec": {"name": FORCED_TOOL, "description": "d", "inputSchema": {"json": MOVIE}}}],
            "toolChoice": {"tool": {"name": FORCED_TOOL}},
        },
    }
    uri = put_jsonl(env.s3, "structured/nova.jsonl", [{"recordId": "N1", "modelInput": nova_input}])
    job_id = create(env.bedrock, "structured-nova", uri, model_id="amazon.nova-lite-v1:0").rsplit("/", 1)[-1]
    assert env.fake.run_to_end(job_id)["status"] == "Completed"
    [line] = read_out(env.s3, f"results/{job_id}/nova.jsonl.out")
    out = line["modelOutput"]
    [block] = out["output"]["message"]["content"]
    assert set(block) == {"toolUse"} and set(block["toolUse"]) == {"toolUseId", "name", "input"}
    assert block["toolUse"]["name"] == FORCED_TOOL and out["stopReason"] == "tool_use"
    jsonschema.validate(block["toolUse"]["input"], MOVIE)
    assert out["usage"]["totalTokens"] == out["usage"]["inputTokens"] + out["usage"]["outputTokens"]


def test_prefix_input_and_partially_completed(env: Env) -> None:
    put_jsonl(env.s3, "multi/a.jsonl", [{"recordId": "A1", "modelInput": claude_input("a1")}])
    put_jsonl(
        env.s3,
        "multi/b.jsonl",
        [
            {"recordId": "B1", "modelInput": claude_input("b1")},
            {"recordId": "B2", "modelInput": claude_input("b2", partial_marker=True)},
        ],
    )
    env.s3.put_object(Bucket=IN_BUCKET, Key="multi/readme.txt", Body=b"not input")
    arn = create(env.bedrock, "partial-job", f"s3://{IN_BUCKET}/multi/")
    job_id = arn.rsplit("/", 1)[-1]
    job = env.fake.run_to_end(arn)
    assert job["status"] == "PartiallyCompleted"
    got = env.bedrock.get_model_invocation_job(jobIdentifier=arn)
    assert got["status"] == "PartiallyCompleted"
    assert (got["totalRecordCount"], got["processedRecordCount"]) == (3, 2)
    assert (got["successRecordCount"], got["errorRecordCount"]) == (2, 0)
    assert "endTime" in got
    assert out_keys(env.s3, job_id) == [
        f"results/{job_id}/a.jsonl.out",
        f"results/{job_id}/b.jsonl.out",
        f"results/{job_id}/manifest.json.out",
    ]
    assert [x["recordId"] for x in read_out(env.s3, f"results/{job_id}/b.jsonl.out")] == ["B1"]
    assert read_out(env.s3, f"results/{job_id}/a.jsonl.out")[0]["modelOutput"]["content"][0]["text"] == "echo: a1"
    m = manifest(env.s3, job_id)
    assert (m["totalRecordCount"], m["processedRecordCount"], m["successRecordCount"]) == (3, 2, 2)


def test_stop_then_stopped_and_stop_on_final(env: Env) -> None:
    uri = put_jsonl(
        env.s3, "stop/in.jsonl", [{"recordId": f"S{i}", "modelInput": claude_input(f"s{i}")} for i in range(4)]
    )
    arn = create(env.bedrock, "stop-job", uri)
    job_id = arn.rsplit("/", 1)[-1]
    assert env.bedrock.get_model_invocation_job(jobIdentifier=arn)["status"] == "Validating"
    assert env.bedrock.get_model_invocation_job(jobIdentifier=arn)["status"] == "Scheduled"

    response = env.bedrock.stop_model_invocation_job(jobIdentifier=arn)
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
    stop_request = env.fake.requests[-1]
    assert stop_request.method == "POST"
    assert stop_request.raw_path.endswith("%2F" + job_id + "/stop")
    assert env.fake.job_json(job_id)["status"] == "Stopping"

    job = env.bedrock.get_model_invocation_job(jobIdentifier=arn)
    assert job["status"] == "Stopped"
    assert "endTime" in job
    assert (job["totalRecordCount"], job["processedRecordCount"], job["successRecordCount"]) == (4, 0, 0)
    assert out_keys(env.s3, job_id) == [f"results/{job_id}/manifest.json.out"]
    assert manifest(env.s3, job_id) == {
        "totalRecordCount": 4,
        "processedRecordCount": 0,
        "successRecordCount": 0,
        "errorRecordCount": 0,
        "inputTokenCount": 0,
        "outputTokenCount": 0,
    }

    with pytest.raises(ClientError) as stopped_again:
        env.bedrock.stop_model_invocation_job(jobIdentifier=arn)
    assert error_code(stopped_again) == "ValidationException"
    assert stopped_again.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400

    done_arn = create(env.bedrock, "done-job", uri)
    assert env.fake.run_to_end(done_arn)["status"] == "Completed"
    with pytest.raises(ClientError) as finished:
        env.bedrock.stop_model_invocation_job(jobIdentifier=done_arn)
    assert error_code(finished) == "ValidationException"
    assert "Completed" in finished.value.response["Error"]["Message"]


def test_missing_input_min_records_and_test_controls(env: Env) -> None:
    missing = create(env.bedrock, "missing-input", f"s3://{IN_BUCKET}/nope/absent.jsonl")
    no_bucket = create(env.bedrock, "missing-bucket", "s3://no-such-bucket-here/in.jsonl")
    for arn in (missing, no_bucket):
        assert env.bedrock.get_model_invocation_job(jobIdentifier=arn)["status"] == "Validating"
        job = env.bedrock.get_model_invocation_job(jobIdentifier=arn)
        assert job["status"] == "Failed"
        assert "Unable to access the input S3 location" in job["message"]
        assert "endTime" in job

    env.fake.min_records = 100
    uri = put_jsonl(env.s3, "small/in.jsonl", [{"recordId": "X1", "modelInput": claude_input("x")}])
    small = create(env.bedrock, "too-small", uri)
    job = env.fake.run_to_end(small)
    assert job["status"] == "Failed"
    assert job["message"] == f"Batch job {small} contains less records (1) than the required minimum of: 100"
    env.fake.min_records = 0

    failing = create(env.bedrock, "to-fail", uri)
    env.fake.step_jobs_on_get = False
    assert env.bedrock.get_model_invocation_job(jobIdentifier=failing)["status"] == "Submitted"
    assert env.fake.advance(failing)["status"] == "Validating"
    env.fake.fail(failing, "boom")
    job = env.bedrock.get_model_invocation_job(jobIdentifier=failing)
    assert (job["status"], job["message"]) == ("Failed", "boom")

    expiring = create(env.bedrock, "to-expire", uri)
    assert env.fake.expire(expiring)["status"] == "Expired"
    assert env.bedrock.get_model_invocation_job(jobIdentifier=expiring)["status"] == "Expired"

    with pytest.raises(ClientError) as unknown:
        env.bedrock.get_model_invocation_job(jobIdentifier="abcdefabcdef")
    assert error_code(unknown) == "ResourceNotFoundException"
    assert unknown.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_list_with_paginator_and_filters(env: Env) -> None:
    uri = put_jsonl(env.s3, "list/in.jsonl", [{"recordId": "L1", "modelInput": claude_input("l")}])
    arns = [create(env.bedrock, f"list-job-{i}", uri) for i in range(5)]
    env.fake.run_to_end(arns[1])

    pages = list(env.bedrock.get_paginator("list_model_invocation_jobs").paginate(PaginationConfig={"PageSize": 2}))
    assert [len(p["invocationJobSummaries"]) for p in pages] == [2, 2, 1]
    names = [s["jobName"] for p in pages for s in p["invocationJobSummaries"]]
    assert names == [f"list-job-{i}" for i in (4, 3, 2, 1, 0)]  # newest first
    assert "nextToken" not in pages[-1]
    summary = pages[0]["invocationJobSummaries"][0]
    assert summary["jobArn"] == arns[4]
    assert summary["status"] == "Submitted"
    assert isinstance(summary["submitTime"], datetime)
    assert env.fake.requests[-1].query == {"maxResults": "2", "nextToken": pages[1]["nextToken"]}

    ascending = env.bedrock.list_model_invocation_jobs(sortOrder="Ascending", maxResults=3)
    assert [s["jobName"] for s in ascending["invocationJobSummaries"]] == ["list-job-0", "list-job-1", "list-job-2"]
    assert "nextToken" in ascending

    completed = env.bedrock.list_model_invocation_jobs(statusEquals="Completed")["invocationJobSummaries"]
    assert [(s["jobName"], s["totalRecordCount"]) for s in completed] == [("list-job-1", 1)]
    assert [
        s["jobName"] for s in env.bedrock.list_model_invocation_jobs(nameContains="job-3")["invocationJobSummaries"]
    ] == ["list-job-3"]
    assert env.bedrock.list_model_invocation_jobs(submitTimeAfter=datetime(2100, 1, 1))["invocationJobSummaries"] == []

    with pytest.raises(ClientError) as bad_token:
        env.bedrock.list_model_invocation_jobs(nextToken="garbage")
    assert error_code(bad_token) == "ValidationException"


def test_list_by_status_with_the_paginator_and_the_record_of_jobs_running_at_once(env: Env) -> None:
    """``statusEquals`` (one of the status enum of boto3's service model) keeps the jobs in that status, page by page;
    the fake records the most jobs that ran at once (created, not final)."""
    uri = put_jsonl(env.s3, "status/in.jsonl", [{"recordId": "T1", "modelInput": claude_input("t")}])
    first, second = create(env.bedrock, "status-a", uri), create(env.bedrock, "status-b", uri)
    env.fake.run_to_end(first)
    third, fourth, fifth = (create(env.bedrock, f"status-{name}", uri) for name in "cde")
    env.fake.advance(second)  # Validating
    env.bedrock.stop_model_invocation_job(jobIdentifier=third)  # Stopping
    assert (env.fake.most_running, env.fake.running()) == (4, 4)

    def listed(status: str, **extra: Any) -> list[list[str]]:
        paginator = env.bedrock.get_paginator("list_model_invocation_jobs")
        pages = paginator.paginate(statusEquals=status, **extra)
        return [[summary["jobName"] for summary in page["invocationJobSummaries"]] for page in pages]

    assert listed("Submitted", PaginationConfig={"PageSize": 1}) == [["status-e"], ["status-d"]]
    assert env.fake.requests[-1].query["statusEquals"] == "Submitted"
    assert listed("Validating") == [["status-b"]]
    assert listed("Stopping") == [["status-c"]]
    assert listed("Completed") == [["status-a"]]
    assert listed("InProgress") == [[]]
    with pytest.raises(ClientError) as unknown:
        env.bedrock.list_model_invocation_jobs(statusEquals="Running")  # (boto3 checks no enum: the service does)
    assert error_code(unknown) == "ValidationException"
    assert "statusEquals" in unknown.value.response["Error"]["Message"]

    for arn in (second, third, fourth, fifth):
        env.fake.run_to_end(arn)
    assert (env.fake.most_running, env.fake.running()) == (4, 0)  # the record stays


def test_validation_errors(env: Env) -> None:
    uri = f"s3://{IN_BUCKET}/in.jsonl"
    with pytest.raises(ClientError) as bad_name:
        create(env.bedrock, "bad name!", uri)
    assert error_code(bad_name) == "ValidationException"
    assert bad_name.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert bad_name.value.response["Error"]["Message"].startswith(
        "1 validation error detected: Value 'bad name!' at 'jobName' failed to satisfy constraint"
    )

    # botocore checks the documented minimum client-side; switch that off to reach the fake
    raw = boto3.client(
        "bedrock",
        endpoint_url=env.base,
        region_name="us-east-1",
        config=Config(parameter_validation=False, retries={"total_max_attempts": 1, "mode": "standard"}),
    )
    with pytest.raises(ClientError) as short_timeout:
        create(raw, "short-timeout", uri, timeoutDurationInHours=12)
    assert error_code(short_timeout) == "ValidationException"
    assert "'timeoutDurationInHours'" in short_timeout.value.response["Error"]["Message"]
    assert "greater than or equal to 24" in short_timeout.value.response["Error"]["Message"]

    with pytest.raises(ClientError) as several:
        raw.create_model_invocation_job(
            jobName="ok-name",
            roleArn="not-an-arn",
            inputDataConfig={"s3InputDataConfig": {"s3Uri": "https://example.com/x"}},
            outputDataConfig={"s3OutputDataConfig": {}},
        )
    message = several.value.response["Error"]["Message"]
    assert message.startswith("4 validation errors detected: ")
    for member in ("'roleArn'", "'modelId'", "'inputDataConfig.s3InputDataConfig.s3Uri'"):
        assert member in message
    assert "Value 'null' at 'outputDataConfig.s3OutputDataConfig.s3Uri' failed to satisfy constraint" in message

    with pytest.raises(ClientError) as bad_id:
        env.bedrock.get_model_invocation_job(jobIdentifier="Not-An-Id")
    assert error_code(bad_id) == "ValidationException"
    assert env.fake.job_ids() == []


def test_injected_errors_and_auth(env: Env) -> None:
    env.fake.inject(429, "ThrottlingException", "Rate exceeded", path_contains="/model-invocation-jobs")
    with pytest.raises(ClientError) as throttled:
        env.bedrock.list_model_invocation_jobs()
    assert error_code(throttled) == "ThrottlingException"
    assert throttled.value.response["Error"]["Message"] == "Rate exceeded"
    assert throttled.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert env.bedrock.list_model_invocation_jobs()["invocationJobSummaries"] == []

    # botocore's default retry policy retries throttling; a single injected error is absorbed
    retrying = boto3.client(
        "bedrock",
        endpoint_url=env.base,
        region_name="us-east-1",
        config=Config(retries={"total_max_attempts": 3, "mode": "standard"}),
    )
    env.fake.inject(429, "ThrottlingException", method="GET")
    before = len(env.fake.requests)
    assert retrying.list_model_invocation_jobs()["invocationJobSummaries"] == []
    assert len(env.fake.requests) - before == 2

    env.fake.inject(500, "InternalServerException", method="POST", times=2)
    for _ in range(2):
        with pytest.raises(ClientError) as internal:
            create(env.bedrock, "after-500", f"s3://{IN_BUCKET}/x.jsonl")
        assert error_code(internal) == "InternalServerException"
    assert env.fake.job_ids() == []

    unsigned = httpx.get(env.base + "/model-invocation-jobs")
    assert unsigned.status_code == 403
    assert unsigned.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    assert unsigned.json() == {"message": "Missing Authentication Token"}
    assert unsigned.headers["x-amzn-RequestId"]
