"""The garbage collector of a serving process, settled once the node is up (app.py's `run`):
a measured fix for the pauses a full collection of the heap caused under load."""

from __future__ import annotations

import gc

# Allocations (less deallocations) of container objects between two collections of the
# youngest generation; CPython's default is 700.
GC_YOUNG_THRESHOLD = 20_000


def settle_garbage_collector() -> None:
    """Move everything alive once the node is up (modules, SQLAlchemy's and pydantic's
    tables: most of the heap) out of the collector's sight, for good. A full collection
    otherwise walked all of it every few seconds under load: 60-80 ms with the loop stopped,
    the steady fan-out's p99 (bench/JOURNAL.md, "Fan-out at InspIRCd's level"). Only for a
    serving process: frozen objects are never freed, which a test process would not want.

    Then the youngest generation is collected every GC_YOUNG_THRESHOLD allocations instead
    of 700. What a connection keeps (~370 objects for a WebSocket: its tasks, coroutines,
    ASGI scope) and the messages in flight under load (drafts, messages, their lists)
    outlived 700 allocations, so every collection walked them and promoted them to die in
    older generations, which then walked them again: with 1,000 WebSockets a middle-generation
    collection took 17 ms in the measured window of a 20 msg/s fan-out, and a durable run of
    300,000 messages spent 0.7 s in ~1,200 collections (0.26 s at 10,000). Most short-lived
    objects (a request's) are freed by their reference count before a collection sees them,
    so a collection's cost follows what survives, not the threshold."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)
