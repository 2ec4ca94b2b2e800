"""What a backend tells the operator about its engine: each operation that failed because the
engine could not be reached (ServiceUnavailable), with a short reason, and each publish that
was not acknowledged. Backends hold one `Health`; app.py points its hooks at the metrics
(torbit_backend_failures_total, torbit_publish_failures_total, torbit_backend_up)."""

from __future__ import annotations

from collections.abc import Callable

from torbit.errors import ServiceUnavailable

Hook = Callable[[str], None]


def _nothing(reason: str) -> None:
    pass


def reason_of(e: ServiceUnavailable) -> str:
    """timeout (the engine did not answer in time), closed (the backend is not running
    here: not started, stopped), claimed (the database is another node's now: this one
    stops), full (no room left on its disk), else unreachable (refused, reset, no such
    host...)."""
    text = e.message
    if "disk is full" in text:  # SQLite's "database or disk is full", and disk_problem's
        return "full"
    if "claimed by another" in text:
        return "claimed"
    if "timed out" in text or "in time" in text:
        return "timeout"
    if any(w in text for w in ("not started", "not open", "not running", "was stopped")):
        return "closed"
    return "unreachable"


class Health:
    def __init__(self) -> None:
        self.on_failure: Hook = _nothing
        self.on_publish_failure: Hook = _nothing

    def failed(self, e: ServiceUnavailable) -> ServiceUnavailable:
        """Count `e` as a failed operation; returns it, to be raised."""
        self.on_failure(reason_of(e))
        return e

    def publish_failed(self, e: ServiceUnavailable) -> None:
        self.on_publish_failure(reason_of(e))
