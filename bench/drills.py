"""Reliability drills, long versions, run by hand: the same drills as tests/drills/ (which run
short versions in CI), with the sizes and durations as flags. Each prints one summary line per
run (drill, load, faults injected, messages acknowledged and lost, server memory and
descriptors before/after, and what else it measured) and exits 1 if a drill found a loss or a
broken bound.

    .venv/bin/python bench/drills.py crash --kills 50 [--deployment postgres-kafka]
    .venv/bin/python bench/drills.py readers --healthy 1000 --stuck 50
    .venv/bin/python bench/drills.py hostile --seconds 120
    .venv/bin/python bench/drills.py fuzz --seconds 600
    .venv/bin/python bench/drills.py storm --seconds 60 --workers 256
    .venv/bin/python bench/drills.py soak --minutes 30
    .venv/bin/python bench/drills.py all            # every drill at its default size

`--deployment postgres-kafka` (or `scale-out`) runs a drill on PostgreSQL (a fresh database on
$TORBIT_TEST_POSTGRES's server or a private one, dropped afterwards) and an Apache Kafka broker
started for the run; `--nodes 2` adds a second node of the same cluster where the drill uses
one (storm: connections split over both; soak: senders on A, listeners on B; hostile: the
attack on A, half the honest users on B; readers: half the healthy readers on B).
`--keep` keeps the servers' directories (logs, SQLite file) and prints where they are.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import sys
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the drills live in tests/drills

from tests.drills.crash import crash_drill
from tests.drills.harness import (
    EMBEDDED,
    Deployment,
    Report,
    ServerProcess,
    load_average,
    second_node,
)
from tests.drills.hostile import hostile_drill
from tests.drills.readers import readers_drill
from tests.drills.soak import soak_drill
from tests.drills.storm import storm_drill

from procstat import raise_open_files_limit

Drill = Callable[[ServerProcess, ServerProcess | None, argparse.Namespace], Awaitable[Report]]


DEFAULT_SECONDS = {"fuzz": 300.0, "readers": 10.0, "hostile": 60.0, "storm": 60.0}


def seconds(a: argparse.Namespace, drill: str) -> float:
    return float(a.seconds) if a.seconds is not None else DEFAULT_SECONDS[drill]


def failures(r: Report) -> list[str]:
    """What a drill found wrong, from its own numbers."""
    bad = [f"lost {r.lost}"] if r.lost else []
    for key in (
        "duplicates",
        "out_of_order",
        "live_misordered",
        "stuck_not_dropped",
        "healthy_dropped",
        "honest_dropped",
        "honest_errors",
        "attacker_failures",
    ):
        if r.extra.get(key):
            bad.append(f"{key} {r.extra[key]}")
    for key in ("rss_growth_ok", "fds_ok"):
        if r.extra.get(key) is False:
            bad.append(f"{key} false")
    return bad


async def crash(server: ServerProcess, _: ServerProcess | None, a: argparse.Namespace) -> Report:
    return await crash_drill(
        server, clients=a.clients, kills=a.kills, min_run=a.min_run, max_run=a.max_run, seed=a.seed
    )


async def readers(
    server: ServerProcess, other: ServerProcess | None, a: argparse.Namespace
) -> Report:
    r = await readers_drill(
        server,
        other=other,
        healthy=a.healthy,
        stuck=a.stuck,
        rate=a.rate,
        size=a.size,
        seconds=seconds(a, "readers"),
        drop_within=600,
    )
    r.extra["stuck_not_dropped"] = a.stuck - int(str(r.extra["stuck_dropped"]))
    return r


async def hostile(
    server: ServerProcess, other: ServerProcess | None, a: argparse.Namespace
) -> Report:
    return await hostile_drill(
        server,
        other=other,
        seconds=seconds(a, "hostile"),
        attackers=a.attackers,
        half_open_count=a.half_open,
        slowloris_count=a.slowloris,
        seed=a.seed,
    )


async def storm(
    server: ServerProcess, other: ServerProcess | None, a: argparse.Namespace
) -> Report:
    return await storm_drill(
        server, other=other, seconds=seconds(a, "storm"), workers=a.workers, users=a.users
    )


async def soak(server: ServerProcess, other: ServerProcess | None, a: argparse.Namespace) -> Report:
    return await soak_drill(
        server,
        receiver=other,
        minutes=a.minutes,
        sample_every=a.sample_every,
        rooms=a.rooms,
        telnet_per_room=a.telnet_per_room,
        interval=a.interval,
        watchers_per_room=a.watchers,
        churn_per_second=a.churn,
    )


DRILLS: dict[str, tuple[Drill, dict[str, str]]] = {
    # name: (drill, extra server settings)
    "crash": (crash, {}),
    "readers": (readers, {}),
    "hostile": (hostile, {"TORBIT_TELNET__LOGIN_TIMEOUT": "5"}),
    "storm": (storm, {}),
    "soak": (soak, {"TORBIT_CHAT__RETENTION_HOURS": "0.005"}),
}


@contextlib.contextmanager
def deployment(name: str) -> Iterator[Callable[[], Deployment]]:
    """Deployments for the drills of this run; scale-out starts a broker and makes a fresh
    database per drill, and cleans both up at the end."""
    if name == "embedded":
        yield lambda: EMBEDDED
        return
    from tests.contract.conftest import PgDatabases

    from torbit.testing.kafka import start_kafka

    databases = PgDatabases()
    count = iter(range(1_000_000))
    with start_kafka(quick=False) as broker:
        try:
            yield lambda: Deployment.scale_out(
                databases.create(), broker.bootstrap, f"drill{next(count)}", broker.root
            )
        finally:
            databases.drop_all()


def fuzz(a: argparse.Namespace) -> Report:
    from tests.drills.test_hostile import fuzz_report, run_fuzzer

    with tempfile.TemporaryDirectory(prefix="torbit-fuzz-") as tmp:
        code, output = run_fuzzer(Path(tmp), int(seconds(a, "fuzz")))
        if code != 0:
            print(output[-6000:], file=sys.stderr)
            raise SystemExit(f"fuzzing found a failure (libFuzzer exit {code}); see above")
    return fuzz_report(output, seconds(a, "fuzz"), "atheris")


async def run(a: argparse.Namespace) -> int:
    names = [*DRILLS, "fuzz"] if a.drill == "all" else [a.drill]
    if a.drill == "all":
        names.remove("soak")  # by itself only: it runs for half an hour
    bad_runs = 0
    with deployment(a.deployment) as make:
        for name in names:
            for _ in range(a.repeat):
                if name == "fuzz":
                    report = await asyncio.to_thread(fuzz, a)
                else:
                    drill, env = DRILLS[name]
                    workdir = Path(tempfile.mkdtemp(prefix=f"torbit-drill-{name}-"))
                    server = ServerProcess(workdir / "node", make(), **env)
                    other = second_node(server) if a.nodes == 2 and name != "crash" else None
                    load_before = load_average()
                    try:
                        report = await drill(server, other, a)
                    finally:
                        server.kill()
                        if other is not None:
                            other.kill()
                        if a.keep:
                            print(f"kept {workdir}", file=sys.stderr)
                        else:
                            shutil.rmtree(workdir, ignore_errors=True)
                    report.extra["load_1min"] = f"{load_before}->{load_average()}"
                print(report.line(), flush=True)
                if bad := failures(report):
                    bad_runs += 1
                    print(f"  FOUND: {', '.join(bad)}", flush=True)
    return 1 if bad_runs else 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("drill", choices=[*DRILLS, "fuzz", "all"])
    p.add_argument(
        "--deployment",
        choices=["embedded", "postgres-kafka", "scale-out"],
        default="embedded",
        help="scale-out is postgres-kafka",
    )
    p.add_argument(
        "--nodes",
        type=int,
        choices=[1, 2],
        default=1,
        help="2: a second node of the cluster (postgres-kafka; not for crash)",
    )
    p.add_argument("--repeat", type=int, default=1, help="runs of each drill")
    p.add_argument("--keep", action="store_true", help="keep the servers' directories")
    p.add_argument("--seed", type=int, default=None, help="for random kill points and bytes")
    g = p.add_argument_group("crash")
    g.add_argument("--clients", type=int, default=50)
    g.add_argument("--kills", type=int, default=20)
    g.add_argument("--min-run", type=float, default=0.2, help="seconds before a kill, at least")
    g.add_argument("--max-run", type=float, default=5.0, help="seconds before a kill, at most")
    g = p.add_argument_group("readers")
    g.add_argument("--healthy", type=int, default=1000)
    g.add_argument("--stuck", type=int, default=50)
    g.add_argument("--rate", type=float, default=20.0, help="messages/s into the room")
    g.add_argument("--size", type=int, default=2000, help="bytes per message")
    g = p.add_argument_group("hostile, storm, fuzz, readers")
    g.add_argument(
        "--seconds",
        type=float,
        default=None,
        help="hostile 60, storm 60, fuzz 300, readers 10 (per measured phase)",
    )
    g.add_argument("--attackers", type=int, default=8, help="hostile: streams of each kind")
    g.add_argument("--half-open", type=int, default=500)
    g.add_argument("--slowloris", type=int, default=200)
    g.add_argument("--workers", type=int, default=128, help="storm: connections in flight")
    g.add_argument("--users", type=int, default=500, help="storm: accounts that log in")
    g = p.add_argument_group("soak")
    g.add_argument("--minutes", type=float, default=30.0)
    g.add_argument("--sample-every", type=float, default=60.0, help="seconds")
    g.add_argument("--rooms", type=int, default=4)
    g.add_argument("--telnet-per-room", type=int, default=10)
    g.add_argument("--churn", type=float, default=5.0, help="connections/s coming and going")
    g.add_argument("--interval", type=float, default=1.0, help="seconds between a talker's lines")
    g.add_argument(
        "--watchers",
        type=int,
        default=4,
        help="telnet users per room that only listen, on node B (--nodes 2)",
    )
    a = p.parse_args(argv)
    if a.nodes == 2 and a.deployment == "embedded":
        p.error("--nodes 2 needs --deployment postgres-kafka")
    raise_open_files_limit()
    return asyncio.run(run(a))


if __name__ == "__main__":
    raise SystemExit(main())
