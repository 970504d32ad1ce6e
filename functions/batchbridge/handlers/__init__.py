"""Lambda entry points, one module per function (template.yaml's Handler).

In Lambda (``AWS_LAMBDA_FUNCTION_NAME`` set), a function starts with Python's garbage collector paused. Start-up
allocates some 100,000 objects that live as long as the process (modules, classes, models, clients); collecting
while they pile up finds next to nothing and re-traverses them each time, some 40 ms of a cold start. Each entry
point calls ``imported()`` at the end of its start-up, which freezes them (no collection looks at them again),
and ``resume()`` once it has answered its first invocation (or at once, for the background functions).
"""

from __future__ import annotations

import gc
import os

PAUSED = bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))
if PAUSED:
    gc.disable()


def imported() -> None:
    """Start-up is done: what it loaded stays out of every later collection."""
    if PAUSED:
        gc.freeze()


def resume() -> None:
    """Collect again (idempotent)."""
    if PAUSED:
        gc.enable()


def started() -> None:
    """Both, for a function that has nothing more to load on its first invocation."""
    imported()
    resume()
