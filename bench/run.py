"""The telnet front-door benchmark: each scenario runs against the bare reference server and
against torbit in the same invocation, repeated, and reports medians and torbit ÷ reference
ratios. Absolute numbers depend on the machine; the ratios are what the targets are about.

    .venv/bin/python bench/run.py                       # everything, 3 repeats
    .venv/bin/python bench/run.py --scenario fanout --repeat 5
    .venv/bin/python bench/run.py --scenario idle --idle-connections 2000

Results: a markdown table on stdout, every raw run in bench/results/<time>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import uvloop

from loadgen import Client, Logins, measure_durable, measure_fanout, measure_idle
from procstat import raise_open_files_limit, wait_for_quiet
from servers import BENCH_DIR, ServerError, start

KINDS = ("reference", "torbit")
Result = dict[str, Any]
Check = Callable[[float | None, float | None, float | None], bool]  # (reference, torbit, ratio)


@dataclass(frozen=True)
class Row:
    """One line of a scenario's table: a metric, and the target it is held to (if any)."""

    key: str
    label: str
    ratio: bool = False  # show torbit ÷ reference
    target: str = ""
    check: Check | None = None


def _ratio_at_most(limit: float) -> Check:
    return lambda _ref, _tb, ratio: ratio is not None and ratio <= limit


ROWS: dict[str, list[Row]] = {
    "fanout": [
        Row("deliveries_per_s", "deliveries/s", ratio=True),
        Row("cpu_us_per_delivery", "server CPU µs/delivery", True, "ratio ≤ 1.3",
            _ratio_at_most(1.3)),
        Row("p50_ms", "p50 latency ms", ratio=True),
        Row("p99_ms", "p99 latency ms", True, "ratio ≤ 1.5", _ratio_at_most(1.5)),
        Row("loss", "loss (deliveries)", False, "torbit = 0", lambda _r, tb, _q: tb == 0),
        Row("dropped_receivers", "receivers dropped"),
        Row("server_cpu_util", "server CPU (cores)", ratio=True),
        Row("gen_cpu_util", "generator CPU (cores)"),
        Row("other_cpu_util", "other CPU (cores)"),
        Row("rss_mb", "server RSS MB", ratio=True),
        Row("login_s", "login time s", ratio=True),
    ],
    "idle": [
        Row("alive", "connections alive"),
        Row("kb_per_conn", "server RSS KB/connection", True, "torbit ≤ 6",
            lambda _r, tb, _q: tb is not None and tb <= 6),
        Row("kb_per_conn_second_half", "… of the second N/2 only", ratio=True),
        Row("rss_start_mb", "RSS at start MB"),
        Row("rss_connected_mb", "RSS connected MB"),
        Row("logins_per_s", "logins/s", ratio=True),
        Row("logins_per_s_first_tenth", "logins/s, first tenth"),
        Row("logins_per_s_last_tenth", "logins/s, last tenth"),
        Row("settle_s", "settle after logins s"),
        Row("stop_s", "shutdown s"),
    ],
    "durable": [
        Row("committed_per_s", "committed msgs/s", True, "torbit ≥ 20,000",
            lambda _r, tb, _q: tb is not None and tb >= 20_000),
        Row("cpu_us_per_message", "server CPU µs/message", ratio=True),
        Row("server_cpu_util", "server CPU (cores)"),
        Row("gen_cpu_util", "generator CPU (cores)"),
        Row("other_cpu_util", "other CPU (cores)"),
        Row("p50_ms", "p50 commit latency ms", ratio=True),
        Row("p99_ms", "p99 commit latency ms", ratio=True),
        Row("errors", "errors"),
        Row("unanswered", "unanswered"),
    ],
}


def measurement(scenario: str, args: argparse.Namespace) -> Callable[[int, int, list[Client]],
                                                                       Awaitable[Result]]:
    """The loadgen measurement for a scenario, with this invocation's parameters."""
    logins = Logins(concurrency=args.concurrency, max_wait=args.login_wait)
    if scenario == "fanout":
        return lambda port, pid, clients: measure_fanout(
            port, pid, clients, receivers=args.receivers, rate=args.rate,
            seconds=args.seconds, warmup=args.warmup, logins=logins)
    if scenario == "idle":
        return lambda port, pid, clients: measure_idle(
            port, pid, clients, connections=args.idle_connections, logins=logins)
    return lambda port, pid, clients: measure_durable(
        port, pid, clients, senders=args.durable_senders, window=args.window,
        seconds=args.seconds, warmup=args.warmup, logins=logins)


async def run_once(scenario: str, kind: str, args: argparse.Namespace) -> Result:
    """A fresh server, one measurement, a graceful stop. Failures become an "error" entry so the
    other runs still happen."""
    quiet_s, busy = await wait_for_quiet(busy_cores=args.quiet_cores, max_wait=args.quiet_wait)
    before = {"quiet_wait_s": round(quiet_s, 1), "machine_cores_busy_before": round(busy, 2)}
    try:
        server = start(kind, shlex.split(args.torbit_cmd) if args.torbit_cmd else None,
                       login_timeout=args.login_wait)
    except ServerError as e:
        return {"error": str(e), **before}
    clients: list[Client] = []
    result: Result
    try:
        result = await measurement(scenario, args)(server.port, server.pid, clients)
        server.check_alive()
    except Exception as e:  # report and go on: one failed run must not lose the others
        result = {"error": f"{type(e).__name__}: {e}", "server_output": server.tail()}
    finally:
        t = time.monotonic()
        # stop in a thread: the loop keeps reading, so the server's goodbyes are not stuck
        code = await asyncio.to_thread(server.stop)
        stop_s = time.monotonic() - t
        for c in clients:
            c.close()
        server.cleanup(args.keep)
        gc.collect()
    result.update(before, exit_code=code, stop_s=round(stop_s, 2))
    if code != 0 and "error" not in result:
        result["warning"] = f"exit code {code}"
    return result


def median(values: list[Any]) -> float | None:
    nums = [v for v in values if isinstance(v, int | float)]
    return statistics.median(nums) if nums else None


def summarize(scenario: str, runs: dict[str, list[Result]]) -> Result:
    """Medians per server, and the median of per-repeat ratios (each torbit run divided by the
    reference run of the same repeat: same machine load, as far as it can be had)."""
    keys = sorted({k for rs in runs.values() for r in rs for k in r})
    med = {kind: {k: median([r.get(k) for r in rs]) for k in keys} for kind, rs in runs.items()}
    ratios: dict[str, float | None] = {}
    pairs = list(zip(runs.get("reference", []), runs.get("torbit", []), strict=False))
    for row in ROWS[scenario]:
        per = [tb[row.key] / ref[row.key] for ref, tb in pairs
               if isinstance(ref.get(row.key), int | float) and ref[row.key]
               and isinstance(tb.get(row.key), int | float)]
        ratios[row.key] = statistics.median(per) if per else None
    checks = {}
    for row in ROWS[scenario]:
        if row.check is not None and "torbit" in runs:
            ref_v, tb_v = med.get("reference", {}).get(row.key), med.get("torbit", {}).get(row.key)
            checks[row.key] = {"target": row.target, "met": row.check(ref_v, tb_v, ratios[row.key])}
    return {"runs": runs, "median": med, "ratio": ratios, "checks": checks}


def fmt(v: float | None) -> str:
    if v is None:
        return "—"
    if isinstance(v, int) or float(v).is_integer():
        return f"{int(v):,}"
    return f"{v:,.1f}" if abs(v) >= 100 else f"{v:.3g}"


def table(scenario: str, summary: Result) -> str:
    med, ratios, checks = summary["median"], summary["ratio"], summary["checks"]
    lines = [f"### {scenario}", "",
             "| metric | reference | torbit | torbit ÷ ref | target | met |",
             "|---|---:|---:|---:|---|---|"]
    for row in ROWS[scenario]:
        ref_v = med.get("reference", {}).get(row.key)
        tb_v = med.get("torbit", {}).get(row.key)
        ratio = f"{ratios[row.key]:.2f}" if row.ratio and ratios[row.key] is not None else ""
        met = ""
        if row.key in checks:
            met = "yes" if checks[row.key]["met"] else "**no**"
        lines.append(f"| {row.label} | {fmt(ref_v)} | {fmt(tb_v)} | {ratio} | {row.target} "
                     f"| {met} |")
    errors = [f"- {kind} run {i + 1}: {r['error'].splitlines()[0]}"
              for kind, rs in summary["runs"].items() for i, r in enumerate(rs) if "error" in r]
    return "\n".join(lines + (["", *errors] if errors else []))


def machine() -> Result:
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=BENCH_DIR,
                             capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        rev = ""
    return {"cpus": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform(), "git_rev": rev, "loadavg": os.getloadavg()}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


async def main_async(args: argparse.Namespace) -> Result:
    scenarios = ["fanout", "idle", "durable"] if args.scenario == "all" else [args.scenario]
    kinds = [k for k in KINDS if k in args.servers.split(",")]
    report: Result = {"started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "args": vars(args),
                      "machine": machine(), "scenarios": {}}
    for scenario in scenarios:
        runs: dict[str, list[Result]] = {k: [] for k in kinds}
        for rep in range(args.repeat):
            # alternate which server goes first, so neither always gets the quieter slot
            for kind in kinds if rep % 2 == 0 else kinds[::-1]:
                log(f"{scenario} {kind} run {rep + 1}/{args.repeat} ...")
                t = time.monotonic()
                r = await run_once(scenario, kind, args)
                runs[kind].append(r)
                shown = {k: r.get(k) for k in [row.key for row in ROWS[scenario]][:5]}
                log(f"  {time.monotonic() - t:.1f} s: {r.get('error') or shown}")
        summary = report["scenarios"][scenario] = summarize(scenario, runs)
        print(table(scenario, summary) + "\n", flush=True)
    return report


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--scenario", choices=["fanout", "idle", "durable", "all"], default="all")
    p.add_argument("--repeat", type=int, default=3, help="runs per server; medians reported")
    p.add_argument("--servers", default="reference,torbit", help="comma-separated subset")
    p.add_argument("--seconds", type=float, default=10.0, help="measured window")
    p.add_argument("--warmup", type=float, default=3.0, help="traffic before measuring")
    p.add_argument("--receivers", type=int, default=1000, help="fanout: receivers in the room")
    p.add_argument("--rate", type=float, default=100.0, help="fanout: messages/s sent")
    p.add_argument("--idle-connections", type=int, default=10_000, help="idle: connections")
    p.add_argument("--concurrency", type=int, default=200, help="logins in flight at once")
    p.add_argument("--login-wait", type=float, default=600.0,
                   help="seconds one login may take (torbit's login timeout is set to match)")
    p.add_argument("--quiet-cores", type=float, default=0.5,
                   help="before each run, wait until the machine uses fewer cores than this")
    p.add_argument("--quiet-wait", type=float, default=120.0, help="… but at most this long")
    p.add_argument("--durable-senders", type=int, default=50, help="durable: senders")
    p.add_argument("--window", type=int, default=32, help="durable: messages in flight/sender")
    p.add_argument("--torbit-cmd", default="", help="instead of `.venv/bin/torbit serve`")
    p.add_argument("--keep", action="store_true", help="keep the servers' temp dirs")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    raise_open_files_limit()
    report = uvloop.run(main_async(args))
    out = BENCH_DIR / "results"
    out.mkdir(exist_ok=True)
    path = out / f"{time.strftime('%Y%m%d-%H%M%S')}-{args.scenario}.json"
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    log(f"wrote {path.relative_to(BENCH_DIR.parent)}")
    # targets are reported, not enforced; only a run that could not be measured fails
    errors = [r for s in report["scenarios"].values() for rs in s["runs"].values() for r in rs
              if "error" in r]
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
