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


def test_the_engine_is_configured_and_the_cli_does_not_measure(tmp_path: Path) -> None:
    """`accounts.argon2_engine`: "auto" by default (the server measures both libraries at
    its first hash), a library named, or refused with the key named; the CLI, hashing one
    password, takes libsodium under "auto" rather than measuring both (stop 62)."""
    from torbit.services import password_hashing

    assert load_settings(environ={}).accounts.argon2_engine == "auto"
    path = tmp_path / "torbit.toml"
    for engine in ("auto", "libsodium", "argon2-cffi"):
        path.write_text(f'[accounts]\nargon2_engine = "{engine}"\n')
        settings = load_settings(path, environ={})
        server, cli = password_hashing(settings), password_hashing(settings, 1, 1)
        try:
            assert server._hasher.engine == engine  # type: ignore[attr-defined]
            assert cli._hasher.engine == ("libsodium" if engine == "auto" else engine)  # type: ignore[attr-defined]
        finally:
            server.close()
            cli.close()
    path.write_text('[accounts]\nargon2_engine = "openssl"\n')
    with pytest.raises(ConfigError) as e:
        load_settings(path, environ={})
    assert e.value.message.startswith("config key accounts.argon2_engine")
