"""Which config file `torbit serve` and every CLI command read (`find_config`), and the checks
made on it before its keys are validated (config.py): there, readable TOML, with no section
under a name it no longer has."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path

from torbit.errors import ConfigError

CONFIG_FILE = "torbit.toml"
RENAMED_SECTIONS = {"bus": "message_log"}


def find_config(
    explicit: Path | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Path | None:
    """The one config file serve and every CLI command read, so that they use the same data:
    `--config`, else `TORBIT_CONFIG`, else `./torbit.toml` when present, else none (the
    built-in defaults)."""
    if explicit is not None:
        return explicit
    env = os.environ if environ is None else environ
    if env.get("TORBIT_CONFIG"):
        return Path(env["TORBIT_CONFIG"])
    here = Path(CONFIG_FILE) if cwd is None else cwd / CONFIG_FILE
    return here if here.is_file() else None


def check_file(path: Path) -> None:
    """`path` is there, is TOML, and names no renamed section (ConfigError saying which)."""
    if not path.is_file():
        raise ConfigError(f"config file {path} not found")
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config file {path}: {e}") from None
    for old, new in RENAMED_SECTIONS.items():
        if old in data:
            raise ConfigError(f"config file {path}: section [{old}] is now [{new}]: rename it")
