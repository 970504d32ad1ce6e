"""The batch state machine: OpenAI's eight statuses, their legal moves, and what providers report.

Adapters report a provider's raw state; the tables here say what it means. A batch whose provider
has ended is not final for the user until the finalizer has made its results ours: until then it
reports ``finalizing`` (or ``cancelling``, after a cancel).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

Status = Literal["validating", "in_progress", "finalizing", "completed", "failed", "expired", "cancelling", "cancelled"]
Outcome = Literal["completed", "expired", "cancelled"]

STATUSES: Final[tuple[Status, ...]] = (
    "validating",
    "in_progress",
    "finalizing",
    "completed",
    "failed",
    "expired",
    "cancelling",
    "cancelled",
)
TERMINAL: Final = frozenset({"completed", "failed", "expired", "cancelled"})

# Legal moves. Observations may skip states (a poll can miss in_progress), never go back.
TRANSITIONS: Final[dict[str, frozenset[str]]] = {
    "validating": frozenset({"in_progress", "finalizing", "failed", "cancelling"}),
    "in_progress": frozenset({"finalizing", "failed", "cancelling"}),
    # completed / expired / cancelled only through the finalizer, which has made the results ours.
    "finalizing": frozenset({"completed", "expired", "cancelled", "failed", "cancelling"}),
    # A cancel racing a completion: the provider may still end the batch completed or expired.
    "cancelling": frozenset({"cancelled", "completed", "expired", "failed"}),
    "completed": frozenset(),
    "failed": frozenset(),
    "expired": frozenset(),
    "cancelled": frozenset(),
}


def can_move(current: str, target: str) -> bool:
    return target in TRANSITIONS.get(current, frozenset())


Phase = Literal["validating", "in_progress", "finalizing", "cancelling", "ended", "failed"]


@dataclass(frozen=True)
class Observation:
    """What a provider's raw state means: a phase, and for an ended batch how it ended."""

    phase: Phase
    outcome: Outcome | None = None


_ENDED_COMPLETED: Final = Observation("ended", "completed")
_ENDED_EXPIRED: Final = Observation("ended", "expired")
_ENDED_CANCELLED: Final = Observation("ended", "cancelled")

# Raw provider state -> observation (the README's "Lifecycle").
PROVIDER_STATES: Final[dict[str, dict[str, Observation]]] = {
    "openai": {
        "validating": Observation("validating"),
        "in_progress": Observation("in_progress"),
        "finalizing": Observation("finalizing"),  # OpenAI is still writing its output
        "cancelling": Observation("cancelling"),
        "completed": _ENDED_COMPLETED,
        "expired": _ENDED_EXPIRED,
        "cancelled": _ENDED_CANCELLED,
        "failed": Observation("failed"),
    },
    # batches the gateway runs itself (providers/compat.py): OpenAI's own states
    "openai-compatible": {
        "in_progress": Observation("in_progress"),
        "cancelling": Observation("cancelling"),
        "completed": _ENDED_COMPLETED,
        "expired": _ENDED_EXPIRED,
        "cancelled": _ENDED_CANCELLED,
        "failed": Observation("failed"),
    },
    "anthropic": {
        "in_progress": Observation("in_progress"),
        "canceling": Observation("cancelling"),
        "ended": _ENDED_COMPLETED,  # refined by ``observe``: cancelled or all-expired
    },
    "bedrock": {
        "Submitted": Observation("validating"),
        "Validating": Observation("validating"),
        "Scheduled": Observation("validating"),
        "InProgress": Observation("in_progress"),
        "Completed": _ENDED_COMPLETED,
        "PartiallyCompleted": _ENDED_COMPLETED,
        "Failed": Observation("failed"),
        "Stopping": Observation("cancelling"),
        "Stopped": _ENDED_CANCELLED,
        "Expired": _ENDED_EXPIRED,
    },
    "gemini": {
        "PENDING": Observation("validating"),
        "RUNNING": Observation("in_progress"),
        "SUCCEEDED": _ENDED_COMPLETED,
        "FAILED": Observation("failed"),
        "CANCELLING": Observation("cancelling"),
        "CANCELLED": _ENDED_CANCELLED,
        "EXPIRED": _ENDED_EXPIRED,
    },
}


class UnknownProviderState(ValueError):
    pass


def observe(provider: str, raw_state: str, *, cancel_requested: bool = False, all_expired: bool = False) -> Observation:
    """The observation a provider's raw state stands for.

    ``cancel_requested``: a cancel was sent (Anthropic's ``ended`` after a cancel is a cancellation).
    ``all_expired``: every request expired unrun (Anthropic's ``ended`` is then an expiry).
    """
    state = raw_state
    if provider == "gemini":  # both spellings: BATCH_STATE_* and JOB_STATE_*
        state = state.removeprefix("BATCH_STATE_").removeprefix("JOB_STATE_")
    observation = PROVIDER_STATES.get(provider, {}).get(state)
    if observation is None:
        raise UnknownProviderState(f"{provider} reported an unknown batch state {raw_state!r}")
    if provider == "anthropic" and observation.phase == "ended":
        if cancel_requested:
            return _ENDED_CANCELLED
        if all_expired:
            return _ENDED_EXPIRED
    return observation


def status_while_open(current: str, observation: Observation) -> str:
    """The status to show for an observation, before any finalizer has run.

    An ended provider batch shows ``finalizing`` (``cancelling`` if it ended cancelled) until finalized; a
    state that would move backwards, or that is not a legal move, leaves the status as it is.
    """
    if current in TERMINAL:
        return current
    if observation.phase == "ended":
        cancelled = current == "cancelling" or observation.outcome == "cancelled"
        target = "cancelling" if cancelled else "finalizing"
    else:
        target = observation.phase
    if target == current or can_move(current, target):
        return target
    return current
