"""`python -m torbit.testing.cassandra --help`, as docs/operations.md's reader types it, took
`--help` for the data directory: a traceback (a relative path has no file URI) and a
directory called `--help` full of Cassandra's files. Options are parsed; nothing starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from torbit.testing import cassandra


def test_help_prints_usage_and_starts_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e:
        cassandra.main(["--help"])
    assert e.value.code == 0
    assert "usage: python -m torbit.testing.cassandra" in capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_option_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e:
        cassandra.main(["--brokers", "3"])
    assert e.value.code == 2
    assert list(tmp_path.iterdir()) == []
