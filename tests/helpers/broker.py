"""Starting the tansu test broker for a fixture, whatever the fixture's scope."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from torbit.testing.tansu import TansuBroker, TansuNotFound, start_tansu


def tansu_broker() -> Iterator[TansuBroker]:
    """Yield a running broker and stop it after; a missing binary fails the test (CI must run
    these tests, so it is not a skip)."""
    try:
        broker = start_tansu()
    except TansuNotFound as e:
        pytest.fail(str(e))
    with broker:
        yield broker
