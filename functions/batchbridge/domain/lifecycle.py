"""The batch state machine: OpenAI's eight statuses, their legal moves, and what providers report.

Adapters report a provider's raw state; ``observe`` reads what it means in the provider's state table (its
``ProviderSpec``, which its adapter module declares). A batch whose provider has ended is not final for the user
until the finalizer has made its results ours: until then it reports ``finalizing`` (or ``cancelling``, after a
cancel).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal

if TYPE_CHECKING:
    from batchbridge.domain.providers import ProviderSpec

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


# How a batch ended, as providers' state tables say it (``ProviderSpec.states``).
ENDED_COMPLETED: Final = Observation("ended", "completed")
ENDED_EXPIRED: Final = Observation("ended", "expired")
ENDED_CANCELLED: Final = Observation("ended", "cancelled")


class UnknownProviderState(ValueError):
    pass


def observe(
    spec: ProviderSpec, raw_state: str, *, cancel_requested: bool = False, all_expired: bool = False
) -> Observation:
    """The observation a provider's raw state stands for, by its ``spec`` (the README's "Lifecycle").

    ``cancel_requested``: a cancel was sent. ``all_expired``: every request expired unrun. Both tell how a batch
    ended when its provider's ended state does not say (``spec.ended_says_how``: Anthropic's ``ended``).
    """
    state = raw_state
    for prefix in spec.state_prefixes:
        state = state.removeprefix(prefix)
    observation = spec.states.get(state)
    if observation is None:
        raise UnknownProviderState(f"{spec.name} reported an unknown batch state {raw_state!r}")
    if not spec.ended_says_how and observation.phase == "ended":
        if cancel_requested:
            return ENDED_CANCELLED
        if all_expired:
            return ENDED_EXPIRED
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
