"""Refusals and cuts counted, told in the log once a spell (frontends/tally.py): a storm of
thousands a second writes a line when it starts and one each SUMMARY_EVERY, never one each."""

from __future__ import annotations

import asyncio
import logging

import pytest

from torbit.frontends import tally as tally_module
from torbit.frontends.tally import Tally

log = logging.getLogger("torbit.test-tally")


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == log.name]


async def spell_over(caplog: pytest.LogCaptureFixture, n: int) -> None:
    while len(lines(caplog)) < n:
        await asyncio.sleep(0.01)


async def test_the_first_is_told_whole_the_rest_summed_up(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, log.name)
    t = Tally(log, "irc: refused", every=0.05)
    for i in range(1000):
        t.count(f"192.0.2.{i % 3}", "too many new connections")
    t.count("192.0.2.9", "the server is full")
    assert lines(caplog) == ["irc: refused 192.0.2.0: too many new connections"]
    await spell_over(caplog, 2)
    summary = lines(caplog)[1]
    assert summary.startswith("irc: refused 1000 more in the last 0.05 s, from 4 addresses")
    assert "192.0.2.1 (333)" in summary and "192.0.2.2 (333)" in summary
    assert "too many new connections (999)" in summary and "the server is full (1)" in summary
    assert t.total == 1001
    # a spell with none ends it: the next is told whole again
    await asyncio.sleep(0.12)
    t.count("192.0.2.5", "again")
    assert lines(caplog)[-1] == "irc: refused 192.0.2.5: again"
    t.stop()
    assert len(lines(caplog)) == 3  # nothing more to tell


async def test_the_addresses_and_reasons_kept_are_bounded(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tally_module, "MAX_ADDRESSES", 10)
    caplog.set_level(logging.INFO, log.name)
    t = Tally(log, "telnet: cut before login", every=3600)
    t.count("first", "first")
    for i in range(100):
        t.count(f"2001:db8::{i:x}", f"login failures (as user{i})")
    assert len(t._by_address) == 10 and len(t._why) == 10
    t.stop()  # told at the stop, not an hour later
    assert "100 more" in lines(caplog)[-1] and "from 10 addresses" in lines(caplog)[-1]
