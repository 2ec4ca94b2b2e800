"""torbit's admin CLI run in this process (typer's CliRunner) over the same real store as a
`torbit` subprocess would open: the same commands, settings from the same TORBIT_* environment,
the same exit codes and output, without a new interpreter importing torbit (a second or more
each). Tests keep one real process for what only a process shows (its stdin pipe, a
terminal, its exit status as a shell sees it) and run the rest of their commands here."""

from __future__ import annotations

import os
import subprocess

from typer.testing import CliRunner


def cli(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """`torbit ARGS` with `env` as its whole environment and `stdin` on its standard input,
    as `subprocess.run` would return it."""
    from torbit.cli import app

    # the environment as a child process would see it: this process's TORBIT_* that `env`
    # does not name are taken away for the run (None removes a variable), then put back
    overlay: dict[str, str | None] = {k: None for k in os.environ if k.startswith("TORBIT_")}
    overlay.update(env)
    result = CliRunner().invoke(app, list(args), input=stdin, env=overlay)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return subprocess.CompletedProcess(
        ["torbit", *args], result.exit_code, result.stdout, result.stderr
    )
