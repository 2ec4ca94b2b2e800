"""argon2 needs at least 8 KiB of memory per lane: a config below that is refused at load with
the key named, as configuration.md says, and not by the first hash after start-up."""

from __future__ import annotations

from pathlib import Path

import pytest

from torbit.config import load_settings
from torbit.core.argon2id import Argon2id
from torbit.errors import ConfigError


def test_memory_below_8_kib_a_lane_names_the_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "torbit.toml"
    path.write_text("[accounts]\nargon2_memory_kib = 16\nargon2_parallelism = 4\n")
    with pytest.raises(ConfigError) as e:
        load_settings(path, environ={})
    assert e.value.message.startswith("config key accounts.argon2_parallelism")
    assert "argon2_memory_kib (16) must be at least 8 × this" in e.value.message
    monkeypatch.setenv("TORBIT_ACCOUNTS__ARGON2_MEMORY_KIB", "31")
    monkeypatch.setenv("TORBIT_ACCOUNTS__ARGON2_PARALLELISM", "4")
    with pytest.raises(ConfigError):
        load_settings()
    monkeypatch.setenv("TORBIT_ACCOUNTS__ARGON2_MEMORY_KIB", "7")  # one lane: 8 KiB
    monkeypatch.setenv("TORBIT_ACCOUNTS__ARGON2_PARALLELISM", "1")
    with pytest.raises(ConfigError):
        load_settings()


@pytest.mark.parametrize(("memory", "lanes"), [(32, 4), (8, 1)])
def test_the_least_memory_allowed_hashes(
    memory: int, lanes: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both libraries (core/argon2id.py): libsodium hashes one lane, argon2-cffi four."""
    monkeypatch.setenv("TORBIT_ACCOUNTS__ARGON2_MEMORY_KIB", str(memory))
    monkeypatch.setenv("TORBIT_ACCOUNTS__ARGON2_PARALLELISM", str(lanes))
    accounts = load_settings().accounts
    hasher = Argon2id(1, accounts.argon2_memory_kib, accounts.argon2_parallelism)
    assert hasher.sodium is (lanes == 1)
    assert hasher.verify(hasher.hash("secret"), "secret")
