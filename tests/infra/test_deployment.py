"""What the deployment puts around the operations (issue 17), read from the template SAM translates, offline.

Queues against their consumers' timeouts and concurrency, logs with retention and tracing, alarms (every DLQ, every
function, the API, the sweeper, the table) and the dashboard, secrets only by ARN and only where used, the authorizer
on every route, stage throttling and the optional WAF, IAM's finishing touches, the outputs; and cfn-lint on the
translated template (infra/lint_translated.py, as CI runs it).
"""

from __future__ import annotations

import copy
import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from batchbridge.api.operations import OPERATIONS, PREFIXES

ROOT = Path(__file__).resolve().parents[2]
LAMBDA = "AWS::Lambda::Function"
ALARM = "AWS::CloudWatch::Alarm"
TOPIC = {"Fn::If": ["CreateAlarmTopic", {"Ref": "AlarmTopic"}, {"Ref": "AlarmTopicArn"}]}
SECRET_PARAMETERS = {"ApiKeys", "OpenAIApiKey", "AnthropicApiKey", "GeminiApiKey", "CompatApiKey", "WebhookSecret"}


def _lint_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("batchbridge_lint_translated", ROOT / "infra" / "lint_translated.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


LINT = _lint_module()


@pytest.fixture(scope="module")
def source() -> dict[str, Any]:
    parsed: dict[str, Any] = LINT.source()
    return parsed


@pytest.fixture(scope="module")
def translated(source: dict[str, Any]) -> dict[str, Any]:
    output: dict[str, Any] = LINT.translate(copy.deepcopy(source))
    return output


@pytest.fixture(scope="module")
def resources(translated: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = translated["Resources"]
    return found


def of_type(resources: dict[str, Any], kind: str) -> dict[str, Any]:
    return {name: body for name, body in resources.items() if body["Type"] == kind}


def refs(value: Any) -> set[str]:
    """Every logical id or parameter ``value`` refers to (Ref, GetAtt, and ${...} in Sub)."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str):
                found.add(inner)
            elif key == "Fn::GetAtt":
                found.add(inner[0] if isinstance(inner, list) else str(inner).split(".")[0])
            elif key == "Fn::Sub":
                text = inner[0] if isinstance(inner, list) else inner
                found |= {name.split(".")[0] for name in re.findall(r"\$\{([^!][^}]*)\}", text)}
                if isinstance(inner, list):
                    found |= refs(inner[1])
            else:
                found |= refs(inner)
    elif isinstance(value, list):
        for inner in value:
            found |= refs(inner)
    return found


def queue_of(mapping: dict[str, Any]) -> str:
    arn = mapping["Properties"]["EventSourceArn"]
    assert isinstance(arn, dict) and "Fn::GetAtt" in arn, arn
    name: str = arn["Fn::GetAtt"][0]
    return name


def function_of(mapping: dict[str, Any]) -> str:
    name: str = mapping["Properties"]["FunctionName"]["Ref"]
    return name


# --------------------------------------------------------------------------------------------------
# cfn-lint, on what CloudFormation really receives
# --------------------------------------------------------------------------------------------------


def test_the_translated_template_lints_without_errors(translated: dict[str, Any]) -> None:
    findings = LINT.cfn_lint(translated)
    assert [LINT.describe(f) for f in findings if f.get("Level") == "Error"] == []
    assert [LINT.describe(f) for f in findings] == []  # no warnings either, today: keep it so


def test_the_lint_script_fails_on_an_error(source: dict[str, Any], tmp_path: Path) -> None:
    """The check above can fail: the queue visibility issue 17 started from (E3505) is an error."""
    broken = copy.deepcopy(source)
    del broken["Resources"]["CompatDeadLetterQueue"]["Properties"]["VisibilityTimeout"]
    findings = LINT.cfn_lint(LINT.translate(broken))
    assert any(f["Rule"]["Id"] == "E3505" and f["Level"] == "Error" for f in findings)


# --------------------------------------------------------------------------------------------------
# queues and their consumers
# --------------------------------------------------------------------------------------------------


def test_every_queue_is_visible_six_times_its_consumers_timeout(resources: dict[str, Any]) -> None:
    mappings = of_type(resources, "AWS::Lambda::EventSourceMapping")
    assert len(mappings) == 3  # the work queue, the compat queue, the compat dead letters
    for mapping in mappings.values():
        queue = resources[queue_of(mapping)]["Properties"]
        timeout = resources[function_of(mapping)]["Properties"]["Timeout"]
        assert queue.get("VisibilityTimeout", 30) >= 6 * timeout, (queue_of(mapping), function_of(mapping))


def test_every_sqs_consumer_may_shorten_a_failed_messages_retry(resources: dict[str, Any]) -> None:
    """A failed job is made visible again after a short backoff (ChangeMessageVisibility on its own queue), which
    Lambda's SQS execution policy does not grant. (Not on the FIFO queues of chunks: those keep their visibility.)"""
    queues = of_type(resources, "AWS::SQS::Queue")
    for mapping in of_type(resources, "AWS::Lambda::EventSourceMapping").values():
        if queues[queue_of(mapping)]["Properties"].get("FifoQueue"):
            continue
        function = resources[function_of(mapping)]
        role = resources[function["Properties"]["Role"]["Fn::GetAtt"][0]]
        granted = [
            statement
            for policy in role["Properties"]["Policies"]
            for statement in policy["PolicyDocument"]["Statement"]
            if "sqs:ChangeMessageVisibility" in statement["Action"]
        ]
        assert any(queue_of(mapping) in refs(statement["Resource"]) for statement in granted), function_of(mapping)


def test_sqs_consumers_are_capped_at_their_event_source(resources: dict[str, Any], source: dict[str, Any]) -> None:
    for mapping in of_type(resources, "AWS::Lambda::EventSourceMapping").values():
        function = resources[function_of(mapping)]["Properties"]
        assert "ReservedConcurrentExecutions" not in function, function_of(mapping)
        maximum = mapping["Properties"]["ScalingConfig"]["MaximumConcurrency"]
        if isinstance(maximum, dict):
            parameter = source["Parameters"][maximum["Ref"]]
            assert parameter["MinValue"] >= 2 and parameter["Default"] >= 2
        else:
            assert maximum >= 2  # SQS event sources take no less
        assert mapping["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_every_consumed_queue_has_a_dead_letter_queue_and_every_dlq_an_alarm(resources: dict[str, Any]) -> None:
    """The dead-letter consumer's queue redrives too: a message it keeps failing on cannot block its FIFO group."""
    queues = of_type(resources, "AWS::SQS::Queue")
    consumed = {queue_of(m) for m in of_type(resources, "AWS::Lambda::EventSourceMapping").values()}
    assert consumed == {"WorkQueue", "CompatQueue", "CompatDeadLetterQueue"}
    dead_letters = set()
    for name in consumed:
        redrive = queues[name]["Properties"]["RedrivePolicy"]
        target = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]
        assert 1 < redrive["maxReceiveCount"] <= 5
        assert queues[target]["Properties"].get("FifoQueue", False) == queues[name]["Properties"].get(
            "FifoQueue", False
        )
        dead_letters.add(target)
    assert dead_letters == {"WorkDeadLetterQueue", "CompatDeadLetterQueue", "CompatAbandonedQueue"}
    alarmed = {
        name for alarm in of_type(resources, ALARM).values() for name in refs(alarm["Properties"].get("Metrics"))
    }
    for queue in dead_letters:
        assert queue in alarmed, queue
        assert queues[queue]["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600
    assert all(q["Properties"]["SqsManagedSseEnabled"] is True for q in queues.values())


def test_the_finalizer_takes_one_job_at_a_time_with_room_for_200_mb_results(resources: dict[str, Any]) -> None:
    props = resources["FinalizerFunction"]["Properties"]
    assert props["MemorySize"] >= 2048 and props["EphemeralStorage"]["Size"] >= 4096 and props["Timeout"] >= 600
    assert resources["FinalizerFunctionWork"]["Properties"]["BatchSize"] <= 2


def resources_parameters_default(name: str) -> Any:
    return LINT.source()["Parameters"][name]["Default"]


def test_the_sweeper_runs_alone_and_is_never_retried(resources: dict[str, Any]) -> None:
    props = resources["SweeperFunction"]["Properties"]
    # one at a time by default; a parameter lifts the reservation in accounts whose quota leaves none to reserve
    assert props["ReservedConcurrentExecutions"] == {
        "Fn::If": ["SweeperReserved", {"Ref": "SweeperReservedConcurrency"}, {"Ref": "AWS::NoValue"}]
    }
    assert resources_parameters_default("SweeperReservedConcurrency") == 1
    (invoke_config,) = of_type(resources, "AWS::Lambda::EventInvokeConfig").values()
    assert invoke_config["Properties"]["FunctionName"] == {"Ref": "SweeperFunction"}
    assert invoke_config["Properties"]["MaximumRetryAttempts"] == 0
    (schedule,) = of_type(resources, "AWS::Scheduler::Schedule").values()
    assert schedule["Properties"]["Target"]["RetryPolicy"]["MaximumRetryAttempts"] == 0
    assert "Name" not in schedule["Properties"]  # generated: two stacks in one account and region do not collide
    # a sweep fits in the schedule's minute, so the next one does not find it still running
    assert props["Timeout"] <= 60


# --------------------------------------------------------------------------------------------------
# logs, tracing, alarms, dashboard
# --------------------------------------------------------------------------------------------------


def test_every_function_logs_json_to_its_own_group_with_retention(resources: dict[str, Any]) -> None:
    functions = of_type(resources, LAMBDA)
    assert len(functions) == len(OPERATIONS) + 5  # + finalizer, sweeper, compat worker and dead letters, authorizer
    groups = set()
    for name, function in functions.items():
        config = function["Properties"]["LoggingConfig"]
        assert config["LogFormat"] == "JSON", name
        assert config["ApplicationLogLevel"] == {"Fn::FindInMap": ["LambdaLogLevel", {"Ref": "LogLevel"}, "Level"]}
        group = config["LogGroup"]["Ref"]
        assert resources[group]["Type"] == "AWS::Logs::LogGroup", name
        assert resources[group]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}, name
        groups.add(group)
    assert len(groups) == len(functions)  # one each


def test_log_retention_is_a_parameter_of_30_days(source: dict[str, Any], resources: dict[str, Any]) -> None:
    assert source["Parameters"]["LogRetentionDays"]["Default"] == 30
    for name, group in of_type(resources, "AWS::Logs::LogGroup").items():
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}, name
    mapping = source["Mappings"]["LambdaLogLevel"]
    assert set(mapping) == set(source["Parameters"]["LogLevel"]["AllowedValues"])


def test_tracing_is_on(resources: dict[str, Any]) -> None:
    for name, function in of_type(resources, LAMBDA).items():
        assert function["Properties"]["TracingConfig"] == {"Mode": "Active"}, name
    (stage,) = of_type(resources, "AWS::ApiGateway::Stage").values()
    assert stage["Properties"]["TracingEnabled"] is True


def test_api_access_logs_and_execution_metrics(resources: dict[str, Any]) -> None:
    (stage,) = of_type(resources, "AWS::ApiGateway::Stage").values()
    access = stage["Properties"]["AccessLogSetting"]
    assert access["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    fields = json.loads(access["Format"])  # one JSON object per request
    assert fields["requestId"] == "$context.requestId" and fields["status"] == "$context.status"
    assert fields["principal"] == "$context.authorizer.principalId"
    (settings,) = stage["Properties"]["MethodSettings"]
    assert settings["ResourcePath"] == "/*" and settings["HttpMethod"] == "*" and settings["MetricsEnabled"] is True
    # API Gateway logs through the account's role, set before the API (and so its stage) exists
    assert resources["GatewayApi"]["DependsOn"] == "ApiGatewayAccount"
    account = resources["ApiGatewayAccount"]["Properties"]
    assert account["CloudWatchRoleArn"] == {"Fn::GetAtt": ["ApiGatewayLoggingRole", "Arn"]}


def test_every_function_has_errors_and_throttles_alarms(resources: dict[str, Any]) -> None:
    watched: dict[str, set[str]] = {}
    for alarm in of_type(resources, ALARM).values():
        props = alarm["Properties"]
        if props.get("Namespace") == "AWS/Lambda":
            (dimension,) = props["Dimensions"]
            watched.setdefault(dimension["Value"]["Ref"], set()).add(props["MetricName"])
    assert watched == {name: {"Errors", "Throttles"} for name in of_type(resources, LAMBDA)}


def test_api_sweeper_and_table_alarms(resources: dict[str, Any]) -> None:
    alarms = of_type(resources, ALARM)
    api_5xx = alarms["Api5xxAlarm"]["Properties"]
    metrics = {m["Id"]: m for m in api_5xx["Metrics"]}
    assert metrics["errors"]["MetricStat"]["Metric"]["MetricName"] == "5XXError"
    assert metrics["rate"]["Expression"] == "IF(requests >= 10, errors / requests, 0)"
    assert api_5xx["Threshold"] == {"Ref": "Api5xxAlarmRate"}
    latency = alarms["ApiLatencyAlarm"]["Properties"]
    assert latency["MetricName"] == "Latency" and latency["ExtendedStatistic"] == "p99"
    for props in (api_5xx, latency):  # the dimensions name the API SAM makes, and its stage
        dims = props["Metrics"][1]["MetricStat"]["Metric"]["Dimensions"] if "Metrics" in props else props["Dimensions"]
        assert dims == [
            {"Name": "ApiName", "Value": {"Ref": "AWS::StackName"}},
            {"Name": "Stage", "Value": {"Ref": "StageName"}},
        ]
    assert resources["GatewayApi"]["Properties"]["Name"] == {"Ref": "AWS::StackName"}
    stalled = alarms["SweeperStalledAlarm"]["Properties"]
    assert refs(stalled["Metrics"]) == {"SweeperFunction"} and stalled["TreatMissingData"] == "breaching"
    throttles = alarms["TableThrottlesAlarm"]["Properties"]
    indexes = {
        d["Value"]
        for m in throttles["Metrics"]
        if "MetricStat" in m
        for d in m["MetricStat"]["Metric"]["Dimensions"]
        if d["Name"] == "GlobalSecondaryIndexName"
    }
    assert indexes == {"by_owner", "active_batches"} and refs(throttles["Metrics"]) == {"Table"}


def test_every_alarm_notifies_the_topic(source: dict[str, Any], resources: dict[str, Any]) -> None:
    alarms = of_type(resources, ALARM)
    assert len(alarms) >= 3 + 2 * len(of_type(resources, LAMBDA)) + 4
    for name, alarm in alarms.items():
        assert alarm["Properties"]["AlarmActions"] == [TOPIC], name
    assert source["Parameters"]["AlarmTopicArn"]["Default"] == ""  # empty: the stack's own topic
    assert resources["AlarmTopic"]["Condition"] == "CreateAlarmTopic"


def test_the_dashboard_shows_batches_by_status_and_provider(resources: dict[str, Any]) -> None:
    body = resources["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    for name in refs(resources["Dashboard"]["Properties"]["DashboardBody"]):
        assert name in resources or name in ("StageName", "AWS::Region", "AWS::StackName"), name
    dashboard = json.loads(re.sub(r"\$\{[^}]+\}", "x", body))
    expressions = [
        metric["expression"]
        for widget in dashboard["widgets"]
        for line in widget["properties"].get("metrics", [])
        for metric in line
        if isinstance(metric, dict) and "expression" in metric
    ]
    assert "SEARCH('Namespace=\"batchbridge\" MetricName=\"Batches\"', 'Sum', 300)" in expressions
    assert "SEARCH('Namespace=\"batchbridge\" MetricName=\"ActiveBatches\"', 'Maximum', 300)" in expressions


# --------------------------------------------------------------------------------------------------
# secrets
# --------------------------------------------------------------------------------------------------


def test_no_secret_value_in_any_functions_environment(source: dict[str, Any], resources: dict[str, Any]) -> None:
    secrets = {name for name, r in resources.items() if r["Type"] == "AWS::SecretsManager::Secret"}
    assert secrets == {"OwnerSecret", "ApiKeysSecret", "ProviderKeysSecret", "CompatKeysSecret", "WebhookSigningSecret"}
    assert {name for name, p in source["Parameters"].items() if p.get("NoEcho")} == SECRET_PARAMETERS
    for name, function in of_type(resources, LAMBDA).items():
        for variable, value in function["Properties"]["Environment"]["Variables"].items():
            assert "{{resolve:" not in json.dumps(value), (name, variable)  # no dynamic reference resolved into it
            assert not refs(value) & SECRET_PARAMETERS, (name, variable)
            if refs(value) & secrets:  # a secret only by its ARN
                assert variable.endswith("_SECRET_ARN"), (name, variable)
            assert not re.search(r"(SECRET|_KEY|_KEYS)$", variable) or variable == "BATCHBRIDGE_KMS_KEY", variable


def test_secrets_are_read_only_where_used(resources: dict[str, Any]) -> None:
    readers: dict[str, set[str]] = {}
    for name, function in of_type(resources, LAMBDA).items():
        role = resources[function["Properties"]["Role"]["Fn::GetAtt"][0]]
        for policy in role["Properties"]["Policies"]:
            for statement in policy["PolicyDocument"]["Statement"]:
                if "secretsmanager:GetSecretValue" in statement["Action"]:
                    for secret in refs(statement["Resource"]) - {"AWS::NoValue"}:
                        readers.setdefault(secret, set()).add(name)
    builds_gateway = set(of_type(resources, LAMBDA)) - {"AuthorizerFunction"}
    assert readers["OwnerSecret"] == builds_gateway
    assert readers["ApiKeysSecret"] == {f"{''.join(p.title() for p in op.split('_'))}Function" for op in OPERATIONS} | {
        "AuthorizerFunction"
    }
    assert readers["ProviderKeysSecret"] == {
        "FilesCreateFunction",
        "FilesDeleteFunction",
        "FilesContentFunction",
        "BatchesCreateFunction",
        "BatchesListFunction",
        "BatchesRetrieveFunction",
        "BatchesCancelFunction",
        "UploadsCompleteFunction",
        "FinalizerFunction",
    }
    assert readers["CompatKeysSecret"] == {"CompatWorkerFunction"}
    assert readers["WebhookSigningSecret"] == {"FinalizerFunction"}


def test_secret_environment_of_the_background_functions(resources: dict[str, Any]) -> None:
    finalizer = resources["FinalizerFunction"]["Properties"]["Environment"]["Variables"]
    assert finalizer["BATCHBRIDGE_WEBHOOK_SECRET_ARN"] == {
        "Fn::If": ["HasWebhook", {"Ref": "WebhookSigningSecret"}, ""]
    }
    worker = resources["CompatWorkerFunction"]["Properties"]["Environment"]["Variables"]
    assert worker["BATCHBRIDGE_COMPAT_KEYS_SECRET_ARN"] == {"Ref": "CompatKeysSecret"}
    assert "COMPAT_API_KEY" not in worker
    webhook = resources["WebhookSigningSecret"]
    assert webhook["Condition"] == "HasWebhook"


def test_an_unset_api_keys_parameter_means_a_generated_key(source: dict[str, Any], resources: dict[str, Any]) -> None:
    props = resources["ApiKeysSecret"]["Properties"]
    assert props["SecretString"] == {
        "Fn::If": ["GenerateApiKey", {"Ref": "AWS::NoValue"}, {"Fn::Join": [",", {"Ref": "ApiKeys"}]}]
    }
    generated = props["GenerateSecretString"]["Fn::If"][1]
    assert generated["PasswordLength"] >= 32 and generated["ExcludePunctuation"] is True  # one key, no comma
    assert source["Conditions"]["GenerateApiKey"] == {"Fn::Equals": [{"Fn::Join": ["", {"Ref": "ApiKeys"}]}, ""]}


def test_api_keys_are_validated_one_by_one(source: dict[str, Any]) -> None:
    """A CommaDelimitedList's AllowedPattern applies to each of its values."""
    parameter = source["Parameters"]["ApiKeys"]
    assert parameter["Type"] == "CommaDelimitedList" and parameter["NoEcho"] is True
    pattern = re.compile(parameter["AllowedPattern"])
    for good in ("sk-gateway-0123456789", "a" * 16, "A1._~+/=-" * 3, ""):
        assert pattern.fullmatch(good), good
    for bad in ("short-key", "a" * 257, "sk gateway 0123456789", "sk-gateway-01234567,x", 'sk-"quoted"-0123456789'):
        assert not pattern.fullmatch(bad), bad


def test_base_urls_take_only_https(source: dict[str, Any]) -> None:
    for name in ("OpenAIBaseUrl", "AnthropicBaseUrl", "GeminiBaseUrl", "WebhookUrl"):
        parameter = source["Parameters"][name]
        pattern = re.compile(parameter["AllowedPattern"])
        assert pattern.fullmatch("https://api.example.com/v1"), name
        assert pattern.fullmatch(parameter["Default"]), name
        for bad in ("http://api.example.com", "ftp://x", "https://", "https://a b"):
            assert not pattern.fullmatch(bad), (name, bad)


def test_provider_keys_cannot_break_their_json(source: dict[str, Any]) -> None:
    for name in ("OpenAIApiKey", "AnthropicApiKey", "GeminiApiKey", "CompatApiKey"):
        pattern = re.compile(source["Parameters"][name]["AllowedPattern"])
        assert pattern.fullmatch("sk-ant-api03-AbC_12.x") and pattern.fullmatch("")
        assert not pattern.fullmatch('sk", "openai": "x') and not pattern.fullmatch("sk\\x")


# --------------------------------------------------------------------------------------------------
# the door: authorizer, throttling, WAF
# --------------------------------------------------------------------------------------------------


def test_the_authorizer_guards_every_operation_route(resources: dict[str, Any]) -> None:
    body = resources["GatewayApi"]["Properties"]["Body"]
    scheme = body["components"]["securitySchemes"]["GatewayKey"]
    authorizer = scheme["x-amazon-apigateway-authorizer"]
    assert authorizer["type"] == "request"
    assert authorizer["identitySource"] == "method.request.header.Authorization"
    assert authorizer["authorizerResultTtlInSeconds"] == 300
    assert authorizer["authorizerUri"]["Fn::Sub"][1]["__FunctionArn__"] == {"Fn::GetAtt": ["AuthorizerFunction", "Arn"]}
    routes = 0
    for path, methods in body["paths"].items():
        for method, operation in methods.items():
            assert operation["security"] == [{"GatewayKey": []}], (method, path)
            routes += 1
    assert routes == len(OPERATIONS) * len(PREFIXES)
    assert resources["AuthorizerFunction"]["Properties"]["Handler"] == "batchbridge.handlers.authorizer.handler"


def test_refused_keys_get_openais_401(resources: dict[str, Any]) -> None:
    responses = resources["GatewayApi"]["Properties"]["Body"]["x-amazon-apigateway-gateway-responses"]
    for kind in ("UNAUTHORIZED", "ACCESS_DENIED"):
        assert responses[kind]["statusCode"] == "401"
        error = json.loads(responses[kind]["responseTemplates"]["application/json"])["error"]
        assert error["type"] == "invalid_request_error" and error["code"] == "invalid_api_key"
        assert error["message"].startswith("Incorrect API key provided") and error["param"] is None
    throttled = json.loads(responses["THROTTLED"]["responseTemplates"]["application/json"])["error"]
    assert responses["THROTTLED"]["statusCode"] == "429" and throttled["code"] == "rate_limit_exceeded"


def test_stage_throttling_comes_from_parameters(source: dict[str, Any], resources: dict[str, Any]) -> None:
    (stage,) = of_type(resources, "AWS::ApiGateway::Stage").values()
    (settings,) = stage["Properties"]["MethodSettings"]
    assert settings["ThrottlingRateLimit"] == {"Ref": "ThrottleRateLimit"}
    assert settings["ThrottlingBurstLimit"] == {"Ref": "ThrottleBurstLimit"}
    assert source["Parameters"]["ThrottleRateLimit"]["Default"] > 0
    assert source["Parameters"]["ThrottleBurstLimit"]["Default"] >= source["Parameters"]["ThrottleRateLimit"]["Default"]


def test_an_optional_waf_with_a_rate_rule(source: dict[str, Any], resources: dict[str, Any]) -> None:
    assert source["Parameters"]["EnableWaf"]["Default"] == "false"
    acl = resources["WebAcl"]
    assert acl["Condition"] == "WafEnabled" and acl["Properties"]["Scope"] == "REGIONAL"
    (rule,) = acl["Properties"]["Rules"]
    assert rule["Statement"]["RateBasedStatement"] == {"Limit": {"Ref": "WafRateLimit"}, "AggregateKeyType": "IP"}
    assert rule["Action"]["Block"]["CustomResponse"]["ResponseCode"] == 429
    association = resources["WebAclAssociation"]
    assert association["Condition"] == "WafEnabled"
    assert refs(association["Properties"]["ResourceArn"]) == {
        "AWS::Partition",
        "AWS::Region",
        "GatewayApi",
        "GatewayApiStage",
    }


# --------------------------------------------------------------------------------------------------
# least privilege, finished
# --------------------------------------------------------------------------------------------------


def test_s3_actions_name_prefixes_never_the_whole_bucket(resources: dict[str, Any]) -> None:
    for name in of_type(resources, LAMBDA):
        role = resources[f"{name}Role"]
        for policy in role["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                targets = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
                for action in actions:
                    if action.startswith("s3:") and action != "s3:ListBucket":
                        for target in targets:
                            assert target != {"Fn::Sub": "${Bucket.Arn}/*"}, (name, action)


def test_passing_the_bedrock_role_only_to_bedrock(resources: dict[str, Any]) -> None:
    passes = {
        name: statement
        for name, role in of_type(resources, "AWS::IAM::Role").items()
        for policy in role["Properties"].get("Policies", [])
        for statement in policy["PolicyDocument"]["Statement"]
        if "iam:PassRole" in statement["Action"]
    }
    # the functions that create Bedrock jobs: batches.create, and the start_parts job of a batch split into parts
    assert set(passes) == {"BatchesCreateFunctionRole", "FinalizerFunctionRole"}
    for statement in passes.values():
        assert statement["Resource"] == {"Fn::GetAtt": ["BedrockServiceRole", "Arn"]}
        assert statement["Condition"] == {"StringEquals": {"iam:PassedToService": "bedrock.amazonaws.com"}}


def test_the_table_is_protected_from_deletion(resources: dict[str, Any]) -> None:
    table = resources["Table"]
    assert table["Properties"]["DeletionProtectionEnabled"] is True
    # kept when the stack goes, but not what a failed first create leaves behind
    assert table["DeletionPolicy"] == "RetainExceptOnCreate" and table["UpdateReplacePolicy"] == "Retain"


# --------------------------------------------------------------------------------------------------
# outputs
# --------------------------------------------------------------------------------------------------


def test_outputs(translated: dict[str, Any]) -> None:
    outputs = {name: output["Value"] for name, output in translated["Outputs"].items()}
    expected = {
        "ApiKeysSecretArn": {"Ref": "ApiKeysSecret"},
        "ProviderKeysSecretArn": {"Ref": "ProviderKeysSecret"},
        "OwnerSecretArn": {"Ref": "OwnerSecret"},
        "CompatKeysSecretArn": {"Ref": "CompatKeysSecret"},
        "WebhookSecretArn": {"Ref": "WebhookSigningSecret"},
        "WorkQueueUrl": {"Ref": "WorkQueue"},
        "WorkDeadLetterQueueUrl": {"Ref": "WorkDeadLetterQueue"},
        "CompatQueueUrl": {"Ref": "CompatQueue"},
        "CompatDeadLetterQueueUrl": {"Ref": "CompatDeadLetterQueue"},
        "CompatAbandonedQueueUrl": {"Ref": "CompatAbandonedQueue"},
        "CredentialsKeyArn": {"Fn::GetAtt": ["CredentialsKey", "Arn"]},
        "BedrockServiceRoleArn": {"Fn::GetAtt": ["BedrockServiceRole", "Arn"]},
        "AlarmsTopicArn": TOPIC,
    }
    assert {name: outputs.get(name) for name in expected} == expected
    assert translated["Outputs"]["WebhookSecretArn"]["Condition"] == "HasWebhook"
    assert {"ApiUrl", "TableName", "BucketName", "DashboardUrl", "ApiAccessLogGroupName"} <= set(outputs)


def test_api_gateways_own_answers_carry_a_request_id(translated: dict[str, Any]) -> None:
    api = next(r for r in translated["Resources"].values() if r["Type"] == "AWS::ApiGateway::RestApi")
    responses = api["Properties"]["Body"]["x-amazon-apigateway-gateway-responses"]
    assert {"UNAUTHORIZED", "THROTTLED", "DEFAULT_4XX", "DEFAULT_5XX"} <= set(responses)
    for name, response in responses.items():
        assert response["responseParameters"]["gatewayresponse.header.x-request-id"] == "context.requestId", name
