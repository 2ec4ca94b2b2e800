"""Presence on one node (the embedded deployment): no heartbeats and no presence table, so
it pays nothing for the cluster's; and the presence keys are checked as the config loads."""

from __future__ import annotations

import pytest

from tests.helpers.telnet_client import TelnetClient
from torbit.app import App
from torbit.config import load_settings
from torbit.errors import ConfigError


async def test_a_single_node_counts_its_own_users_without_heartbeats(server: App) -> None:
    assert server.core is not None
    assert server.core.heartbeat is None and server.core.subscriptions.cluster is None
    assert server.telnet_port is not None
    alice = await TelnetClient.connect(server.telnet_port)
    try:
        await alice.login("alice")
        alice.send("/who")
        await alice.expect(r"here in #lobby \(1\): alice$")
    finally:
        await alice.close()


def test_the_expiry_must_outlast_a_heartbeat(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORBIT_MESSAGE_LOG__PRESENCE_HEARTBEAT_SECONDS", "5")
    monkeypatch.setenv("TORBIT_MESSAGE_LOG__PRESENCE_EXPIRY_SECONDS", "5")
    with pytest.raises(ConfigError, match=r"message_log\.presence_expiry_seconds"):
        load_settings()
    monkeypatch.setenv("TORBIT_MESSAGE_LOG__PRESENCE_EXPIRY_SECONDS", "15")
    assert load_settings().message_log.presence_expiry_seconds == 15
