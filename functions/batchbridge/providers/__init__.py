"""Provider adapters, one module each, behind ``domain.ports.ProviderAdapter``."""

import sys

# httpx imports its command-line tool whenever rich, click and pygments happen to be installed (~40 ms of a
# cold start); the gateway never runs it, so that import is refused and httpx falls back without it.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
