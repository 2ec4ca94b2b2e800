"""A typo in a config key or section names what the operator most likely meant, in the file
and in a TORBIT_* variable alike; a name close to nothing gets no guess. A refused value's
message says the rule that is enforced."""

from __future__ import annotations

from pathlib import Path

import pytest

from torbit.config import load_settings
from torbit.errors import ConfigError


def _error(tmp_path: Path, text: str = "", environ: dict[str, str] | None = None) -> str:
    path = tmp_path / "torbit.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_settings(path, environ=environ or {})
    return e.value.message


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        (
            "[message_log]\nfetch_wait = 5\n",
            "unknown config key message_log.fetch_wait (did you mean message_log.fetch_wait_ms?)",
        ),
        ("[storage]\nurll = 'x'\n", "unknown config key storage.urll (did you mean storage.url?)"),
        ("[storag]\nurl = 'x'\n", "unknown config section [storag] (did you mean [storage]?)"),
        ("[telnet]\nqqqqq = 1\n", "unknown config key telnet.qqqqq"),
        ("[xyz]\nport = 1\n", "unknown config section [xyz]"),
    ],
)
def test_a_typo_in_the_file_names_the_closest_key(tmp_path: Path, toml: str, expected: str) -> None:
    assert _error(tmp_path, toml) == expected


@pytest.mark.parametrize(
    ("variable", "expected"),
    [
        ("TORBIT_TELNET__PROT", "unknown config key telnet.prot (did you mean telnet.port?)"),
        ("TORBIT_TELNT__PORT", "unknown config section [telnt] (did you mean [telnet]?)"),
        (
            "TORBIT_MESSAGE_LOG__URLS",
            "unknown config key message_log.urls (did you mean message_log.url?)",
        ),
        ("TORBIT_XYZ__PORT", "unknown config section [xyz]"),
    ],
)
def test_a_typo_in_a_variable_names_the_closest_key(
    tmp_path: Path, variable: str, expected: str
) -> None:
    assert (
        _error(tmp_path, environ={variable: "1"}) == f"environment variable {variable}: {expected}"
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("10.0.0.5", """TORBIT_TELNET__TRUSTED_PROXIES='["10.0.0.5"]'"""),
        ("10.0.0.5, 10.0.0.6", """TORBIT_TELNET__TRUSTED_PROXIES='["10.0.0.5", "10.0.0.6"]'"""),
        ('"10.0.0.5"', """TORBIT_TELNET__TRUSTED_PROXIES='["10.0.0.5"]'"""),
        ("", "TORBIT_TELNET__TRUSTED_PROXIES='[]'"),
    ],
)
def test_a_list_not_written_in_json_is_one_line(tmp_path: Path, value: str, expected: str) -> None:
    """On main, TORBIT_TELNET__TRUSTED_PROXIES=10.0.0.5 (docs/operations.md writes it in JSON,
    an operator may not) raised pydantic-settings' SettingsError: a page of traceback, naming
    the section 'telnet' only."""
    message = _error(tmp_path, environ={"TORBIT_TELNET__TRUSTED_PROXIES": value})
    assert message == (
        "environment variable TORBIT_TELNET__TRUSTED_PROXIES: telnet.trusted_proxies is a "
        f"list, written in JSON: {expected}"
    )


def test_a_list_in_json_is_taken(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "torbit.toml"
    path.write_text("")
    monkeypatch.setenv("TORBIT_HTTP__TRUSTED_PROXIES", '["10.0.0.5", "10.1.0.0/16"]')
    settings = load_settings(path)
    assert settings.http.trusted_proxies == ("10.0.0.5", "10.1.0.0/16")


def test_an_expiry_not_longer_than_a_heartbeat_is_refused_saying_what_is_needed(
    tmp_path: Path,
) -> None:
    """The message says what is enforced (more than one beat), not a stricter rule."""
    toml = "[message_log]\npresence_heartbeat_seconds = 5\npresence_expiry_seconds = 5\n"
    assert _error(tmp_path, toml) == (
        "config key message_log.presence_expiry_seconds: Value error, must be more than "
        "presence_heartbeat_seconds (5 s)"
    )


def test_a_refused_value_is_named_with_where_it_came_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A newcomer's `TORBIT_CHAT__HISTORY_ON_JOIN=lots` was told only of `chat.history_on_join`:
    not that a variable set it, nor what it was given."""
    assert _error(tmp_path, "[chat]\nretention_hours = -5\n") == (
        "config key chat.retention_hours: Input should be greater than 0, not -5"
    )
    monkeypatch.setenv("TORBIT_CHAT__HISTORY_ON_JOIN", "lots")
    told = _error(tmp_path, environ={"TORBIT_CHAT__HISTORY_ON_JOIN": "lots"})
    assert told.startswith(
        "config key chat.history_on_join (set by TORBIT_CHAT__HISTORY_ON_JOIN): "
    ), told
    assert told.endswith(", not 'lots'"), told
    monkeypatch.setenv("TORBIT_CHAT__HISTORY_ON_JOIN", "x" * 500)  # not repeated at length
    told = _error(tmp_path, environ={"TORBIT_CHAT__HISTORY_ON_JOIN": "x" * 500})
    assert "xxxx" not in told, told
