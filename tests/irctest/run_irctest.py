"""Run irctest's server tests against an IRC server and count the outcomes.

    python tests/irctest/run_irctest.py external --host 127.0.0.1 --port 6667
    python tests/irctest/run_irctest.py ngircd
    python tests/irctest/run_irctest.py compare torbit/summary.json ngircd/summary.json

`external` tests a server that is already running (torbit's IRC door, started with
`irc.guests = true`) through irctest's external-server controller; `torbit` does the same
through torbit_controller.py beside this file, which also creates accounts (over IRC, with
REGISTER) for the tests that need them; `ngircd` lets irctest start ngIRCd (Debian package
`ngircd`) itself, for a baseline on the same selection. Both run the
committed selection (selection.txt beside this file) unless `-k` says otherwise; anything after
`--` goes to pytest (e.g. `-- -x -v`).

irctest (MIT) is not part of this repository: it lives read-only in ../shared/irctest (or
`--irctest DIR`), and each run copies it to a temporary directory and runs it there, with this
interpreter. Its server tests need only pytest and websockets, both in torbit's test extra; a
missing one is installed with pip first.

Each run writes junit.xml, pytest.log and summary.json (counts, the selection, the command,
and every test's outcome) to `--out` (default: a new directory under /tmp) and prints a closing
line like "ngIRCd: 272 passed, 10 failed, 52 skipped, 5 xfailed". The exit status is 0 when
the run completed, whatever its failures, unless `--expect FILE` lists tests that must pass and
one did not; pytest's own status when it could not run (2-5).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
DEFAULT_IRCTEST = REPO.parent / "shared" / "irctest"
SELECTION_FILE = HERE / "selection.txt"
CONTROLLERS = {
    "external": ("irctest.controllers.external_server", "external server"),
    # external, plus accounts created over IRC (REGISTER) for the tests marked `services`
    "torbit": ("torbit_controller", "torbit"),
    "ngircd": ("irctest.controllers.ngircd", "ngIRCd"),
}
EXTERNAL = ("external", "torbit")  # modes that test a server already running
OUTCOMES = ("passed", "failed", "error", "skipped", "xfailed")
# what irctest's server tests import beyond the standard library (its requirements.txt also
# names ecdsa and filelock: the client tests' SASL and an optional lock it ships itself)
NEEDED = {"pytest": "pytest != 9.0.0", "websockets": "websockets"}


def committed_selection() -> str:
    """selection.txt as one `-k` expression: its clauses, comments dropped, joined by 'and'."""
    clauses = [line.split("#", 1)[0].strip() for line in SELECTION_FILE.read_text().splitlines()]
    return " and ".join(f"({c})" if " or " in c else c for c in clauses if c)


def ensure_requirements() -> None:
    """pip-install what the server tests need and this interpreter lacks."""
    missing = []
    for module, requirement in NEEDED.items():
        try:
            version = importlib.metadata.version(module)
        except importlib.metadata.PackageNotFoundError:
            missing.append(requirement)
            continue
        if module == "pytest" and version == "9.0.0":  # irctest: pytest-dev/pytest#13895
            missing.append(requirement)
    if missing:
        print(f"installing irctest's requirements: {', '.join(missing)}", flush=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", *missing], check=True)


def copy_irctest(source: Path) -> Path:
    """A writable copy of irctest in a new temporary directory: the source stays untouched."""
    if not (source / "irctest" / "controllers").is_dir():
        sys.exit(f"no irctest at {source} (give --irctest DIR)")
    target = Path(tempfile.mkdtemp(prefix="torbit-irctest-")) / "irctest"
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(".git", "__pycache__"))
    for path in [target, *target.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o200)
    return target


def server_env(args: argparse.Namespace) -> dict[str, str]:
    env = dict(os.environ)
    if args.mode == "torbit":
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")]))
    if args.mode in EXTERNAL:
        env["IRCTEST_SERVER_HOSTNAME"] = args.host
        env["IRCTEST_SERVER_PORT"] = str(args.port)
        if args.sasl_mechs:
            env["IRCTEST_SERVER_SASL_MECHS"] = args.sasl_mechs
    elif shutil.which("ngircd", path=env.get("PATH")) is None:
        if not Path("/usr/sbin/ngircd").exists():
            sys.exit("ngircd is not installed: apt-get install ngircd")
        env["PATH"] = env.get("PATH", "") + os.pathsep + "/usr/sbin"
    return env


def outcomes(junit: Path) -> dict[str, str]:
    """Each test's outcome from pytest's junit XML, by 'file::Class::test[param]'."""
    result: dict[str, str] = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        module, _, cls = case.get("classname", "").rpartition(".")
        name = f"{module.replace('.', '/')}.py::{cls}::{case.get('name')}"
        if case.find("failure") is not None:
            outcome = "failed"
        elif case.find("error") is not None:
            outcome = "error"
        elif (skipped := case.find("skipped")) is not None:
            outcome = "xfailed" if skipped.get("type") == "pytest.xfail" else "skipped"
        else:
            outcome = "passed"
        if result.get(name) in ("failed", "error"):  # a teardown error after a failure
            continue
        result[name] = outcome
    return result


def closing_line(label: str, counts: Counter[str]) -> str:
    parts = [f"{counts[o]} {o}" for o in OUTCOMES if counts[o] or o in ("passed", "failed")]
    return f"{label}: {', '.join(parts)}"


def run(args: argparse.Namespace) -> int:
    controller, label = CONTROLLERS[args.mode]
    if args.mode in EXTERNAL:
        label = f"{args.host}:{args.port}"
    selection = args.k or committed_selection()
    out = Path(args.out or tempfile.mkdtemp(prefix=f"irctest-{args.mode}-")).resolve()
    out.mkdir(parents=True, exist_ok=True)
    ensure_requirements()
    copy = copy_irctest(Path(args.irctest))
    command = [
        sys.executable,
        "-m",
        "pytest",
        "--controller",
        controller,
        "-k",
        selection,
        "-p",
        "no:cacheprovider",
        "-p",
        "no:asyncio",
        "-q",
        "-rfE",
        f"--junitxml={out / 'junit.xml'}",
        *args.pytest_args,
    ]
    print(f"irctest in {copy}\n$ {shlex.join(command)}", flush=True)
    started = time.monotonic()
    env = server_env(args)
    # irctest keeps the ports its controllers hand out in $TMPDIR/irctest_ports.json: a
    # temporary directory of this run's own keeps runs side by side from sharing that file
    env["TMPDIR"] = str(copy.parent)
    with (out / "pytest.log").open("w") as log:
        code = subprocess.run(
            command, cwd=copy, env=env, stdout=log, stderr=subprocess.STDOUT, check=False
        ).returncode
    seconds = time.monotonic() - started
    shutil.rmtree(copy.parent, ignore_errors=True)
    if code not in (0, 1) or not (out / "junit.xml").exists():
        print((out / "pytest.log").read_text()[-4000:])
        print(f"pytest could not run (exit {code}); log in {out / 'pytest.log'}")
        return code or 1
    tests = outcomes(out / "junit.xml")
    counts = Counter(tests.values())
    log_lines = (out / "pytest.log").read_text().strip().splitlines()
    summary = {
        "server": label,
        "controller": controller,
        "selection": selection,
        "command": shlex.join(command),
        "seconds": round(seconds, 1),
        "pytest_says": log_lines[-1] if log_lines else "",
        "counts": {o: counts[o] for o in OUTCOMES},
        "tests": tests,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(f"results in {out} ({seconds:.0f} s)")
    missed = check_expected(Path(args.expect), tests) if args.expect else []
    print(closing_line(label, counts))
    return 1 if missed else 0


def check_expected(expect: Path, tests: dict[str, str]) -> list[str]:
    """The tests listed in `expect` (one per line; lines starting with # are comments, and
    only those: test ids hold channel names) that did not pass."""
    lines = [line.strip() for line in expect.read_text().splitlines()]
    wanted = [line for line in lines if line and not line.startswith("#")]
    missed = [name for name in wanted if tests.get(name) != "passed"]
    for name in missed:
        print(f"expected to pass, {tests.get(name, 'not run')}: {name}")
    return missed


def compare(first: Path, second: Path) -> int:
    """Print the tests whose outcomes differ between two summary.json files."""
    a, b = (json.loads(path.read_text()) for path in (first, second))
    for summary in (a, b):
        print(closing_line(summary["server"], Counter(summary["tests"].values())))
    if a["selection"] != b["selection"]:
        print(f"note: different selections:\n  {a['selection']}\n  {b['selection']}")
    names = sorted(set(a["tests"]) | set(b["tests"]))
    for name in names:
        left, right = a["tests"].get(name, "-"), b["tests"].get(name, "-")
        if left != right:
            print(f"{left:>8} {right:>8}  {name}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    modes = parser.add_subparsers(dest="mode", required=True)
    for mode in CONTROLLERS:
        sub = modes.add_parser(mode, help=f"run irctest with {CONTROLLERS[mode][0]}")
        if mode in EXTERNAL:
            sub.add_argument("--host", default="127.0.0.1", help="IRCTEST_SERVER_HOSTNAME")
            sub.add_argument("--port", type=int, required=True, help="IRCTEST_SERVER_PORT")
            sub.add_argument(
                "--sasl-mechs", default="", help="IRCTEST_SERVER_SASL_MECHS, e.g. PLAIN"
            )
        sub.add_argument("-k", help="a -k expression instead of selection.txt")
        sub.add_argument("--out", help="directory for junit.xml, pytest.log, summary.json")
        sub.add_argument(
            "--irctest",
            default=str(DEFAULT_IRCTEST),
            help=f"irctest's source (default {DEFAULT_IRCTEST})",
        )
        sub.add_argument("--expect", help="file of tests that must pass, one per line")
        sub.add_argument("pytest_args", nargs="*", help="after --: more pytest arguments")
    diff = modes.add_parser("compare", help="show where two runs' outcomes differ")
    diff.add_argument("first", type=Path)
    diff.add_argument("second", type=Path)
    args = parser.parse_args(argv)
    if args.mode == "compare":
        return compare(args.first, args.second)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
