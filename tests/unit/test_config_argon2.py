"""argon2 needs at least 8 KiB of memory per lane: a config below that is refused at load with
the key named, as configuration.md says, and not by the first hash after start-up."""

from __future__ import annotations

from pathlib import Path

import pytest
from argon2 import PasswordHasher

from torbit.config import load_settings
from torbit.errors import ConfigError


def test_memory_below_8_kib_a_lane_names_the_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "torbit.toml"
    path.write_text("[accounts]\nargon2_memory_kib = 16\n")  # the default parallelism is 4
    with pytest.raises(ConfigError) as e:
        load_settings(path, environ={})
    assert e.value.message.startswith("config key accounts.argon2_parallelism")
    assert "argon2_memory_kib (16) must be at least 8 × this" in e.value.message
    monkeypatch.setenv("TORBIT_ACCOUNTS__ARGON2_MEMORY_KIB", "31")
    with pytest.raises(ConfigError):
        load_settings()


def test_the_least_memory_allowed_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORBIT_ACCOUNTS__ARGON2_MEMORY_KIB", "32")
    accounts = load_settings().accounts
    hasher = PasswordHasher(
        time_cost=1,
        memory_cost=accounts.argon2_memory_kib,
        parallelism=accounts.argon2_parallelism,
    )
    assert hasher.verify(hasher.hash("secret"), "secret")
