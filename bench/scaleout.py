"""Scale-out benchmark: torbit nodes on `postgresql + kafka` (an Apache Kafka broker and
PostgreSQL), measured with the telnet fan-out of loadgen.py.

    cross-node   the sender logs in to node A, the receivers to node B: every message goes
                 sender → A → broker → B's consumer → receivers. Deliveries/s, latency, and
                 the CPU of each node and of the broker.
    backends     the same fan-out on one node, `postgresql + kafka` against `sqlite + local`,
                 in the same repeat, and the ratio of the two.

    .venv/bin/python bench/scaleout.py                          # both, 3 repeats
    .venv/bin/python bench/scaleout.py --scenario cross-node --receivers 500 --rate 200

PostgreSQL: a private server started for the invocation (torbit.testing.postgres), or the one
at --postgres; a fresh database is created for each run and dropped after. Apache Kafka: one
broker (torbit.testing.kafka, full JIT and G1 as in production, data in memory) serves the
whole invocation, each run on topics of its own. Results: markdown tables on stdout, raw runs
in bench/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import secrets
import statistics
import sys
import time
from functools import partial
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import uvloop

from loadgen import Endpoint, Feed, Tally, Window, percentile_ms, wait_for_count
from procstat import cpu_seconds, raise_open_files_limit, rss_bytes, settle, wait_for_quiet
from reports import fmt, log, saved
from servers import Server, start_torbit
from torbit.testing.kafka import KafkaCluster, start_kafka
from torbit.testing.postgres import PrivatePostgres
from users import Logins, TelnetUser, User, login_many

Result = dict[str, Any]


class Backend:
    """Where the nodes of one run keep their data: a fresh PostgreSQL database and a topic
    prefix of their own on the shared broker, or nothing shared at all (sqlite + local)."""

    def __init__(self, kind: str, admin_url: str, broker: KafkaCluster | None) -> None:
        self.kind = kind
        self._admin_url = admin_url
        self._broker = broker
        self._database = ""
        self.fetch_wait_ms = 500

    async def __aenter__(self) -> Backend:
        if self.kind == "postgresql+kafka":
            self._database = f"torbit_bench_{os.getpid()}_{secrets.token_hex(4)}"
            await _admin(self._admin_url, f'CREATE DATABASE "{self._database}"')
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._database:
            await _admin(
                self._admin_url, f'DROP DATABASE IF EXISTS "{self._database}" WITH (FORCE)'
            )

    def env(self) -> dict[str, str]:
        """The environment every node of this run gets (sqlite + local: the bench default)."""
        if self.kind != "postgresql+kafka":
            return {}
        assert self._broker is not None
        return {
            "TORBIT_STORAGE__URL": self._admin_url.rsplit("/", 1)[0] + "/" + self._database,
            "TORBIT_MESSAGE_LOG__URL": f"kafka://{self._broker.bootstrap}",
            "TORBIT_MESSAGE_LOG__TOPIC_PREFIX": f"bench{self._database[-8:]}",
            "TORBIT_MESSAGE_LOG__FETCH_WAIT_MS": str(self.fetch_wait_ms),
        }


async def _admin(url: str, sql: str) -> None:
    conn = await asyncpg.connect(url, timeout=10)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def fanout(
    rx_node: Server,
    tx_node: Server,
    clients: list[User],
    watch: dict[str, int],
    args: argparse.Namespace,
) -> Result:
    """loadgen's fan-out, with the sender on `tx_node` and the receivers on `rx_node` (the
    same node, or not). CPU is reported for every process in `watch` (name → pid)."""
    logins = Logins(concurrency=args.concurrency, max_wait=args.login_wait)
    tally = Tally()
    t0 = time.monotonic()
    rx = await login_many(
        rx_node.port,
        [partial(TelnetUser, f"r{i:05d}", None, tally.take) for i in range(args.receivers)],
        clients,
        logins,
    )
    tx = await login_many(tx_node.port, [partial(TelnetUser, "s000")], clients, logins)
    login_s = time.monotonic() - t0
    # A node on Kafka is never quite idle (its consumer polls), so "quiet" is looser here. The
    # broker too: every login made an inbox topic, and the broker creates each partition's
    # files after the request that created it has returned (~10-20 ms a partition here).
    for pid in {*watch.values()}:
        await settle(pid, busy=0.3, max_wait=30)
    gc.collect()
    gc.freeze()
    try:
        feed = Feed(tx, args.rate, tally.sent_ns)
        task = asyncio.create_task(feed.run())
        await asyncio.sleep(args.warmup)
        w = Window(Endpoint(rx_node.port, rx_node.pid, TelnetUser))
        cpu0 = {name: cpu_seconds(pid) for name, pid in watch.items()}
        w.start()
        tally.lo = feed.seq
        seen = tally.seen
        await asyncio.sleep(args.seconds)
        tally.hi = feed.seq
        w.stop()
        cpu = {name: cpu_seconds(pid) - cpu0[name] for name, pid in watch.items()}
        seen = tally.seen - seen  # deliveries made in the window, whenever sent
        feed.stop()
        await task
        sent = tally.hi - tally.lo
        expected = sent * args.receivers
        await wait_for_count(lambda: tally.received, expected, progress=lambda: tally.seen)
        lat = sorted(tally.latencies_ns)
        delivered = max(seen, 1)
        return {
            "login_s": round(login_s, 2),
            "sent": sent,
            "expected": expected,
            "received": tally.received,
            "loss": expected - tally.received,
            "dropped_receivers": sum(r.lost for r in rx),
            "deliveries_per_s": round(seen / w.seconds, 1),
            "p50_ms": percentile_ms(lat, 0.50),
            "p99_ms": percentile_ms(lat, 0.99),
            "max_ms": lat[-1] / 1e6 if lat else None,
            # every process of the path: nodes and broker (PostgreSQL is not on it)
            "cpu_us_per_delivery": round(sum(cpu.values()) / delivered * 1e6, 3),
            **{f"{name}_cpu_util": round(c / w.seconds, 3) for name, c in cpu.items()},
            "rx_node_rss_mb": round(rss_bytes(rx_node.pid) / 2**20, 1),
            **w.report(),
        }
    finally:
        gc.unfreeze()


async def run_once(
    scenario: str, kind: str, broker: KafkaCluster, args: argparse.Namespace
) -> Result:
    """Fresh nodes on a fresh backend, one measurement, a graceful stop. A failure becomes an
    "error" entry so that the other runs still happen."""
    quiet_s, busy = await wait_for_quiet(busy_cores=args.quiet_cores, max_wait=args.quiet_wait)
    before = {"quiet_wait_s": round(quiet_s, 1), "machine_cores_busy_before": round(busy, 2)}
    nodes: list[Server] = []
    clients: list[User] = []
    result: Result
    try:
        async with Backend(kind, args.postgres, broker) as backend:
            backend.fetch_wait_ms = args.fetch_wait
            try:
                for _ in range(2 if scenario == "cross-node" else 1):
                    nodes.append(
                        await asyncio.to_thread(
                            start_torbit, login_timeout=args.login_wait, env=backend.env()
                        )
                    )
                rx_node, tx_node = nodes[-1], nodes[0]
                watch = {"rx_node": rx_node.pid}
                if tx_node is not rx_node:
                    watch["tx_node"] = tx_node.pid
                if kind == "postgresql+kafka":
                    watch["broker"] = broker.nodes[0].pid
                result = await fanout(rx_node, tx_node, clients, watch, args)
                for node in nodes:
                    node.check_alive()
            except Exception as e:
                result = {
                    "error": f"{type(e).__name__}: {e}",
                    "server_output": nodes[-1].tail() if nodes else "",
                }
            finally:
                for c in clients:
                    c.close()
                for node in nodes:
                    await asyncio.to_thread(node.stop)
                    node.cleanup(args.keep)
                gc.collect()
    except Exception as e:  # the backend itself (PostgreSQL) failed
        result = {"error": f"{type(e).__name__}: {e}"}
    return {**result, **before}


def median(runs: list[Result], key: str) -> float | None:
    values = [r[key] for r in runs if isinstance(r.get(key), int | float)]
    return statistics.median(values) if values else None


CROSS_ROWS = [
    ("deliveries_per_s", "deliveries/s"),
    ("p50_ms", "p50 latency ms"),
    ("p99_ms", "p99 latency ms"),
    ("max_ms", "max latency ms"),
    ("loss", "loss (deliveries)"),
    ("dropped_receivers", "receivers dropped"),
    ("cpu_us_per_delivery", "CPU µs/delivery (nodes + broker)"),
    ("rx_node_cpu_util", "receiving node CPU (cores)"),
    ("tx_node_cpu_util", "sending node CPU (cores)"),
    ("broker_cpu_util", "broker CPU (cores)"),
    ("gen_cpu_util", "generator CPU (cores)"),
    ("other_cpu_util", "other CPU (cores)"),
    ("rx_node_rss_mb", "receiving node RSS MB"),
]
BACKEND_ROWS = [row for row in CROSS_ROWS if row[0] != "tx_node_cpu_util"]
KINDS = ("sqlite+local", "postgresql+kafka")


def errors(runs: dict[str, list[Result]]) -> list[str]:
    return [
        f"- {kind} run {i + 1}: {r['error'].splitlines()[0]}"
        for kind, rs in runs.items()
        for i, r in enumerate(rs)
        if "error" in r
    ]


def cross_table(runs: list[Result], args: argparse.Namespace) -> str:
    lines = [
        f"### cross-node: 1 sender on node A, {args.receivers} receivers on node B, "
        f"{args.rate:g} msg/s (postgresql + kafka)",
        "",
        "| metric | median | runs |",
        "|---|---:|---|",
    ]
    for key, label in CROSS_ROWS:
        each = ", ".join(fmt(r.get(key)) for r in runs)
        lines.append(f"| {label} | {fmt(median(runs, key))} | {each} |")
    return "\n".join([*lines, "", *errors({"postgresql+kafka": runs})])


def backends_table(runs: dict[str, list[Result]], args: argparse.Namespace) -> str:
    """Medians per backend, and the median of per-repeat ratios kafka ÷ local (both runs of a
    repeat saw the same machine)."""
    lines = [
        f"### backends: one node, 1 sender, {args.receivers} receivers, {args.rate:g} msg/s",
        "",
        "| metric | sqlite + local | postgresql + kafka | kafka ÷ local |",
        "|---|---:|---:|---:|",
    ]
    for key, label in BACKEND_ROWS:
        pairs = zip(runs["sqlite+local"], runs["postgresql+kafka"], strict=False)
        ratios = [
            k[key] / s[key]
            for s, k in pairs
            if isinstance(s.get(key), int | float)
            and s[key]
            and isinstance(k.get(key), int | float)
        ]
        ratio = f"{statistics.median(ratios):.2f}" if ratios else ""
        lines.append(
            f"| {label} | {fmt(median(runs['sqlite+local'], key))} | "
            f"{fmt(median(runs['postgresql+kafka'], key))} | {ratio} |"
        )
    return "\n".join([*lines, "", *errors(runs)])


async def main_async(args: argparse.Namespace) -> Result:
    report: Result = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "args": vars(args),
        "cpus": os.cpu_count(),
        "loadavg": os.getloadavg(),
        "scenarios": {},
    }
    scenarios = ["cross-node", "backends"] if args.scenario == "all" else [args.scenario]
    private = None if args.postgres else PrivatePostgres.start()
    if private is not None:
        args.postgres = private.url
    try:
        with start_kafka(quick=False, heap_mb=512) as broker:
            report["kafka"] = broker.jars.version
            await run_scenarios(scenarios, broker, args, report)
    finally:
        if private is not None:
            private.stop()
    return report


async def run_scenarios(
    scenarios: list[str], broker: KafkaCluster, args: argparse.Namespace, report: Result
) -> None:
    for scenario in scenarios:
        kinds = ["postgresql+kafka"] if scenario == "cross-node" else list(KINDS)
        runs: dict[str, list[Result]] = {k: [] for k in kinds}
        for rep in range(args.repeat):
            for kind in kinds if rep % 2 == 0 else kinds[::-1]:
                log(f"{scenario} {kind} run {rep + 1}/{args.repeat} ...")
                t = time.monotonic()
                r = await run_once(scenario, kind, broker, args)
                runs[kind].append(r)
                shown = {
                    k: r.get(k)
                    for k in ("deliveries_per_s", "p99_ms", "loss", "cpu_us_per_delivery")
                }
                log(f"  {time.monotonic() - t:.1f} s: {r.get('error') or shown}")
        report["scenarios"][scenario] = runs
        table = (
            cross_table(runs["postgresql+kafka"], args)
            if scenario == "cross-node"
            else backends_table(runs, args)
        )
        print(table + "\n", flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument("--scenario", choices=["cross-node", "backends", "all"], default="all")
    p.add_argument("--repeat", type=int, default=3, help="runs per backend; medians reported")
    p.add_argument("--receivers", type=int, default=500)
    p.add_argument("--rate", type=float, default=100.0, help="messages/s sent")
    p.add_argument("--seconds", type=float, default=10.0, help="measured window")
    p.add_argument("--warmup", type=float, default=3.0)
    p.add_argument(
        "--fetch-wait",
        type=int,
        default=500,
        help="message_log.fetch_wait_ms of the Kafka nodes (Apache Kafka answers a "
        "waiting fetch as soon as a record arrives)",
    )
    p.add_argument("--concurrency", type=int, default=100, help="logins in flight at once")
    p.add_argument("--login-wait", type=float, default=300.0)
    p.add_argument("--quiet-cores", type=float, default=0.5)
    p.add_argument("--quiet-wait", type=float, default=20.0)
    p.add_argument(
        "--postgres",
        default=os.environ.get("TORBIT_BENCH_POSTGRES"),
        help="a database on the server to create each run's database from "
        "(default: a private server started for this invocation)",
    )
    p.add_argument("--keep", action="store_true", help="keep the nodes' temp dirs")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    raise_open_files_limit()
    report = uvloop.run(main_async(args))
    runs = (r for s in report["scenarios"].values() for rs in s.values() for r in rs)
    return saved(report, f"scaleout-{args.scenario}", runs)


if __name__ == "__main__":
    sys.exit(main())
