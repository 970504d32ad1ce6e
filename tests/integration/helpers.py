"""What the tests of leases and background jobs share: the services' clock moved on, the jobs they send held until the
test runs them, a function killed mid-way, a sweep's sends recorded, provider fakes behind a network that fails, and
the AWS calls of the Lambda handlers checked against the template's grants."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from openai import OpenAI

from batchbridge.gateway import Gateway
from batchbridge.store.queue import LocalWorkQueue
from tests.fakes.server import Unreliable, running_server

if TYPE_CHECKING:
    from batchbridge.domain.services.jobs import BatchJobs
    from tests.integration.test_handlers import Call


# -- a function killed mid-way -----------------------------------------------------------------------------------------


class Killed(BaseException):
    """The function running the work ended mid-way (a Lambda timeout): no handler of the gateway's runs."""


def kill_once(target: Any, name: str, when: Callable[..., bool] = lambda *args: True) -> None:
    """``target.name`` raises Killed the first time ``when`` holds for its arguments, as a function ending there
    would."""
    original = getattr(target, name)
    killed: list[bool] = []

    def dying(*args: Any, **kwargs: Any) -> Any:
        if not killed and when(*args):
            killed.append(True)
            raise Killed
        return original(*args, **kwargs)

    setattr(target, name, dying)


# -- time and the work queue -------------------------------------------------------------------------------------------


class Clock:
    """The services' clock, moved forward to let leases and windows run out."""

    def __init__(self) -> None:
        self.offset_ns = 0

    def __call__(self) -> int:
        return time.time_ns() + self.offset_ns

    def advance(self, seconds: int) -> None:
        self.offset_ns += seconds * 1_000_000_000

    def now(self) -> int:
        return self() // 1_000_000_000


def move_clock(gateway: Gateway) -> Clock:
    """One Clock read by every service of ``gateway`` (the complete_upload job's own reads the jobs')."""
    moved = Clock()
    for service in (gateway.files, gateway.uploads, gateway.batches, gateway.jobs):
        service.clock = moved
    return moved


class HeldQueue:
    """Jobs sent, kept until the test hands them to the worker (a queue whose consumer has not run yet)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, int]] = []

    def send(self, kind: str, batch_id: str, delay_seconds: int = 0) -> None:
        self.sent.append((kind, batch_id, delay_seconds))

    def kinds(self) -> list[str]:
        return [kind for kind, _, _ in self.sent]

    def release(self, work_queue: LocalWorkQueue) -> None:
        """Hand every job sent without a delay to the worker, and wait for them (and what they send) to run."""
        while ready := [(kind, ref) for kind, ref, delay in self.sent if delay == 0]:
            self.sent = [job for job in self.sent if job[2] != 0]
            for kind, ref in ready:
                work_queue.send(kind, ref)
            work_queue.drain()


def hold_jobs(*services: Any) -> HeldQueue:
    """One HeldQueue for the jobs each of ``services`` sends (the others' still go to the worker)."""
    queue = HeldQueue()
    for service in services:
        service.queue = queue
    return queue


def sweep_sends(jobs: BatchJobs) -> list[tuple[str, str]]:
    """What a sweep by ``jobs`` queues now (recorded, not run)."""
    sent: list[tuple[str, str]] = []

    class Recording:
        def send(self, kind: str, batch_id: str, delay_seconds: int = 0) -> None:
            sent.append((kind, batch_id))

    dataclasses.replace(jobs, queue=Recording()).sweep()
    return sent


def create_batch(client: OpenAI, file_id: str) -> Any:
    """A chat batch of ``file_id`` with a 24 h window, created through the SDK."""
    return client.batches.create(input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h")


# -- provider fakes behind a network that fails ------------------------------------------------------------------------


def unreliable_fake(create_app: Callable[[], Any], path: str = "") -> Any:
    """A fixture, named by the module attribute it is assigned to: the fake ``create_app`` makes, behind a network
    that can lose an answer or stall a request (``lose_next``, ``stall_next``): (that app, its base URL + ``path``)."""

    @pytest.fixture
    def fake() -> Iterator[tuple[Unreliable, str]]:
        app = Unreliable(create_app())
        with running_server(app) as base:
            yield app, base + path

    return fake


# -- the deployed functions --------------------------------------------------------------------------------------------


@contextmanager
def handlers_gateway_afresh() -> Iterator[None]:
    """The Lambda handlers build their own gateway from the environment, once per process: afresh for this test."""
    from batchbridge import gateway as gateway_module

    gateway_module.default_gateway.cache_clear()
    try:
        yield
    finally:
        gateway_module.default_gateway.cache_clear()


@contextmanager
def recorded_aws_calls() -> Iterator[list[Call]]:
    """The AWS calls made meanwhile by clients of boto3's default session (the handlers' gateway's), each as what it
    needs granted; the test may clear the list between functions."""
    from tests.integration.test_handlers import iam_calls

    calls: list[Call] = []

    def record(event_name: str, params: dict[str, Any], **_: Any) -> None:
        service, operation = event_name.split(".")[1:]  # before-parameter-build.<service>.<operation>
        calls.extend(iam_calls(service, operation, params))

    events = boto3._get_default_session().events
    events.register("before-parameter-build", record)
    try:
        yield calls
    finally:
        events.unregister("before-parameter-build", record)


def ungranted(seen: dict[str, list[Call]]) -> dict[str, list[Call]]:
    """For each function, the calls it made that template.yaml does not grant it."""
    from tests.integration.test_handlers import _allowed, granted

    refused: dict[str, list[Call]] = {}
    for function, calls in seen.items():
        grants = granted(function)
        refused[function] = sorted({call for call in calls if not _allowed(grants, call)}, key=str)
    return refused
