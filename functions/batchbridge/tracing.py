"""X-Ray traces of a Lambda function: its invocation and every provider and storage call, as subsegments.

With Powertools Tracer, loaded only by an invocation that X-Ray samples: loading it (aws-xray-sdk; 40-70 ms at a
full vCPU in Lambda, some 250 ms elsewhere, where it builds a botocore X-Ray client for sampling) is never part of
a function's start-up, and an unsampled invocation never pays it. The first sampled invocation does, once (under
X-Ray's default rule, the first request each second is sampled: often a cold function's first). Outside Lambda
(``serve``, tests, ``sam local``) nothing is traced and nothing is wrapped.

The calls are traced at the ports (a provider adapter's and a store's methods), not by patching botocore and
httpx: a patched httpx would send X-Ray's trace header to every provider, and the subsegments name what the
gateway did (``anthropic.create_batch``, ``records.get_batch``), not only which host it called.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

T = TypeVar("T")
H = TypeVar("H", bound=Callable[..., Any])

_tracer: Tracer | None = None  # once a sampled invocation has loaded it
_cold = True


def enabled() -> bool:
    """In Lambda, not under ``sam local`` (no X-Ray daemon) and not turned off (Powertools' own switch)."""
    return (
        bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))
        and bool(os.environ.get("LAMBDA_TASK_ROOT"))
        and not os.environ.get("AWS_SAM_LOCAL")
        and os.environ.get("POWERTOOLS_TRACE_DISABLED", "").lower() not in ("1", "true")
    )


def sampled() -> bool:
    """Whether X-Ray samples this invocation: Lambda sets its trace header in the environment for each one."""
    header = os.environ.get("_X_AMZN_TRACE_ID", "")
    return "Sampled=1" in header.split(";")


def _loaded_tracer() -> Tracer:
    global _tracer
    if _tracer is None:
        from aws_lambda_powertools import Tracer

        # Nothing patched: the ports are traced instead (see the module's docstring).
        _tracer = Tracer(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "batchbridge"), auto_patch=False)
    return _tracer


def handler(name: str) -> Callable[[H], H]:
    """A Lambda handler's decorator: its sampled invocations traced as ``## name`` with ColdStart and Service
    annotations. Responses are not recorded (they hold users' file contents); errors are, as Powertools does."""

    def decorate(function: H) -> H:
        if not enabled():
            return function

        @functools.wraps(function)
        def traced_handler(event: Any, context: Any) -> Any:
            global _cold
            cold, _cold = _cold, False
            if not sampled():
                return function(event, context)
            tracer = _loaded_tracer()
            with tracer.provider.in_subsegment(f"## {name}") as subsegment:
                subsegment.put_annotation(key="ColdStart", value=cold)
                subsegment.put_annotation(key="Service", value=tracer.service)
                return function(event, context)

        return cast(H, traced_handler)

    return decorate


class _Traced:
    """``target``, each public method call a subsegment ``label.method`` when the invocation is sampled."""

    def __init__(self, target: Any, label: str) -> None:
        object.__setattr__(self, "_target", target)
        object.__setattr__(self, "_label", label)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._target, name, value)  # the target's state, as if unwrapped

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if name.startswith("_") or not callable(value):
            return value
        subsegment_name = f"{self._label}.{name}"

        @functools.wraps(value)
        def call(*args: Any, **kwargs: Any) -> Any:
            if _tracer is None or not sampled():
                return value(*args, **kwargs)
            with _tracer.provider.in_subsegment(subsegment_name):
                # An iterator's subsegment covers its making (a stream is read later, by its caller).
                return value(*args, **kwargs)

        return call


def traced(target: T, label: str) -> T:
    """``target`` with its calls traced when tracing is on (see ``enabled``); else ``target`` itself."""
    return cast(T, _Traced(target, label)) if enabled() else target
