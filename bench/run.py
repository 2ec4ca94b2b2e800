"""The chat front-door benchmark: every scenario runs against each target in the same
invocation — torbit over telnet and over IRC, the bare reference server over telnet, InspIRCd
over IRC — repeated, and reports medians, the worst run, and each torbit door ÷ each peer. Absolute numbers depend on
the machine; the ratios, taken within one repeat, are what the targets are about.

    .venv/bin/python bench/run.py                       # everything at full size, 3 repeats
    .venv/bin/python bench/run.py --quick               # smoke run: few clients, 1 repeat
    .venv/bin/python bench/run.py --scenario steady,burst --targets torbit,inspircd
    .venv/bin/python bench/run.py --scenario crowd --crowd 5000 --repeat 1

Results: a markdown table on stdout, every raw run in bench/results/<time>-<scenarios>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import uvloop

from crowd import measure_crowd
from loadgen import Endpoint, measure_burst, measure_durable, measure_fanout
from procstat import raise_open_files_limit, wait_for_quiet
from profiles import Recorder, hottest
from reports import fmt, log, saved
from servers import ARGON2_CHEAP, BENCH_DIR, ServerError, start, torbit_hasher
from users import DIALECTS, Logins, TorbitIrcUser, User

Result = dict[str, Any]


@dataclass(frozen=True)
class Target:
    """What a column measures: a server, and the dialect the load generator speaks to it;
    `door` names the config section that opens that dialect's door (servers.Doors), when the
    server does not open it by default; `user`, the client class when not the dialect's
    own (how accounts come to exist differs between servers)."""

    name: str
    server: str  # servers.start kind
    dialect: str  # users.DIALECTS key
    door: str | None = None
    user: type[User] | None = None

    @property
    def client(self) -> type[User]:
        return self.user or DIALECTS[self.dialect]


TARGETS = (
    Target("reference", "reference", "telnet"),
    Target("torbit", "torbit", "telnet"),
    Target("inspircd", "inspircd", "irc"),
    # torbit's IRC door; its users create their accounts with REGISTER as they connect, as
    # the telnet users do at their first login (InspIRCd has no accounts: PASS is unchecked)
    Target("torbit-irc", "torbit", "irc", "IRC", TorbitIrcUser),
)
# the ratios are each of these ÷ every other target (a later subject ÷ an earlier one too);
# the targets (issue 15's) are checked for each
SUBJECTS = ("torbit", "torbit-irc")
SUBJECT = SUBJECTS[0]

# (a subject's median, its ratios by peer) -> met
Check = Callable[[float | None, dict[str, float]], bool]


def at_most_peer(peer: str) -> Check:
    return lambda _med, ratio: peer in ratio and ratio[peer] <= 1.0


def at_least_peer(peer: str) -> Check:
    return lambda _med, ratio: peer in ratio and ratio[peer] >= 1.0


def subject_at_most(limit: float) -> Check:
    return lambda med, _ratio: med is not None and med <= limit


def subject_at_least(limit: float) -> Check:
    return lambda med, _ratio: med is not None and med >= limit


@dataclass(frozen=True)
class Row:
    """One metric of a scenario's table. `better` ("lower" or "higher") says which run is the
    worst and asks for ratios; `target` is the issue's goal, checked on the medians."""

    key: str
    label: str
    better: str = ""
    target: str = ""
    check: Check | None = None


def cpu_rows() -> list[Row]:
    return [
        Row("server_cpu_util", "server CPU (cores)"),
        Row("gen_cpu_util", "generator CPU (cores)"),
        Row("gen_cpu_util_max", "… its busiest process (cores)"),
        Row("other_cpu_util", "other CPU (cores)"),
    ]


def delivery_rows() -> list[Row]:
    """What a delivery cost beside the server's CPU (loadgen.per_delivery): the generator's
    CPU (near a whole core its own lag is what the latencies read: stop 61), and the server's
    writes and the generator's reads (a server that puts several lines in one write saves
    both sides calls)."""
    return [
        Row("gen_cpu_us_per_delivery", "generator CPU µs/delivery", "lower"),
        Row("server_writes_per_delivery", "server writes/delivery", "lower"),
        Row("server_bytes_per_write", "… bytes/write"),
        Row("gen_reads_per_delivery", "generator reads/delivery"),
        Row("gen_bytes_per_read", "… bytes/read"),
    ]


STEADY = [
    Row(
        "cpu_us_per_delivery",
        "server CPU µs/delivery",
        "lower",
        "≤ InspIRCd",
        at_most_peer("inspircd"),
    ),
    Row("p99_ms", "p99 send → receive ms", "lower", "≤ InspIRCd", at_most_peer("inspircd")),
    Row("p50_ms", "p50 send → receive ms", "lower"),
    Row("loss", "loss (deliveries)", "lower", "0", subject_at_most(0)),
    Row("drain_s", "deliveries still arriving after the window s", "lower"),
    Row("deliveries_per_s", "deliveries/s", "higher"),
    Row("dropped_receivers", "receivers dropped", "lower"),
    *cpu_rows(),
    *delivery_rows(),
    Row("rss_mb", "server RSS MB", "lower"),
    Row("login_s", "logins took s", "lower"),
]
BURST = [
    Row("deliveries_per_s", "deliveries/s", "higher", "≥ InspIRCd", at_least_peer("inspircd")),
    Row("cpu_us_per_delivery", "server CPU µs/delivery", "lower"),
    Row("sent_per_s", "messages/s sent", "higher"),
    Row("loss", "loss (deliveries)", "lower", "0", subject_at_most(0)),
    Row("dropped_receivers", "receivers dropped", "lower"),
    *cpu_rows(),
    *delivery_rows(),
]
CROWD = [
    Row("logins_per_s", "logins/s", "higher", "≥ 300", subject_at_least(300)),
    Row("argon2_alone_per_s", "… argon2 alone just before and after, hashes/s", "higher"),
    Row("logins_of_argon2_alone", "… logins ÷ argon2 alone", "higher"),
    Row("kb_per_conn", "RSS KB per idle connection, N", "lower", "≤ 4", subject_at_most(4)),
    Row("kb_per_conn_half", "… at N/2", "lower"),
    Row("kb_per_conn_second_half", "… of the second N/2 only", "lower"),
    Row("alive", "connections alive at N"),
    Row("idle_cpu_cores", "idle at N: server CPU (cores)", "lower"),
    Row("fanout_p50_ms", "1 → N fan-out at 2 msg/s: p50 send → receive ms", "lower"),
    Row("fanout_p99_ms", "… p99 ms", "lower"),
    Row("fanout_cpu_us_per_delivery", "… server CPU µs/delivery", "lower"),
    Row("fanout_loss", "… loss (deliveries)", "lower", "0", subject_at_most(0)),
    Row(
        "newcomer_prompt_ms",
        "all leave: worst newcomer's first reply ms",
        "lower",
        "≤ 500",
        subject_at_most(500),
    ),
    Row("newcomer_prompt_first_ms", "… the first newcomer's ms", "lower"),
    Row("newcomer_login_ms", "… newcomer logged in ms", "lower"),
    Row("stall_ms", "… longest unanswered probe ms", "lower", "≤ 50", subject_at_most(50)),
    Row("probe_quiet_ms", "… same probe, before, ms", "lower"),
    Row("drain_cpu_s", "… server CPU to work it off s", "lower"),
    Row("drain_s", "… until the server is idle s", "lower"),
]
DURABLE = [
    Row("committed_per_s", "committed msgs/s", "higher", "≥ 30,000", subject_at_least(30_000)),
    Row("cpu_us_per_message", "server CPU µs/message", "lower"),
    Row("p50_ms", "p50 commit latency ms", "lower"),
    Row("p99_ms", "p99 commit latency ms", "lower"),
    *cpu_rows(),
    Row("errors", "errors", "lower"),
    Row("unanswered", "unanswered", "lower"),
]

Measure = Callable[[Endpoint, list[User]], Awaitable[Result]]


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    rows: list[Row]
    measure: Measure
    dialects: frozenset[str] = frozenset(DIALECTS)


def scenarios(args: argparse.Namespace) -> list[Scenario]:
    """The scenarios asked for, with this invocation's sizes."""
    logins = Logins(concurrency=args.concurrency, max_wait=args.login_wait)
    chosen = set(args.scenario.split(","))
    every = "all" in chosen
    out: list[Scenario] = []
    procs = f", receivers in {args.gen_procs} generator processes" if args.gen_procs > 1 else ""
    if every or "steady" in chosen:
        for n in args.receivers:
            out.append(
                Scenario(
                    f"steady-{n}",
                    f"steady 1 → {n:,} @ {args.rate:g} msg/s" + procs,
                    STEADY,
                    partial(
                        _fanout,
                        receivers=n,
                        rate=args.rate,
                        seconds=args.seconds,
                        warmup=args.warmup,
                        logins=logins,
                        gen_procs=args.gen_procs,
                    ),
                )
            )
    if every or "burst" in chosen:
        n = args.burst_receivers
        out.append(
            Scenario(
                "burst",
                f"burst 1 → {n:,}, window {args.window}",
                BURST,
                partial(
                    _burst,
                    receivers=n,
                    window=args.window,
                    seconds=args.seconds,
                    warmup=args.warmup,
                    logins=logins,
                ),
            )
        )
    if every or "crowd" in chosen:
        n = args.crowd
        out.append(
            Scenario(
                "crowd",
                f"crowd: N = {n:,} log in {args.concurrency} at a time, idle, all leave",
                CROWD,
                partial(
                    _crowd,
                    argon2=args.argon2,
                    connections=n,
                    logins=logins,
                    profile_storm=args.profile_storm,
                ),
            )
        )
    if every or "durable" in chosen:
        out.append(
            Scenario(
                "durable",
                f"durable: {args.durable_senders} senders × window {args.durable_window}",
                DURABLE,
                partial(
                    _durable,
                    senders=args.durable_senders,
                    window=args.durable_window,
                    seconds=args.seconds,
                    warmup=args.warmup,
                    logins=logins,
                ),
                frozenset({"telnet"}),
            )
        )  # an IRC server does not echo a message to its sender
    return out


async def _fanout(ep: Endpoint, clients: list[User], **kw: Any) -> Result:
    return await measure_fanout(ep, clients, **kw)


async def _burst(ep: Endpoint, clients: list[User], **kw: Any) -> Result:
    return await measure_burst(ep, clients, **kw)


async def _crowd(
    ep: Endpoint, clients: list[User], *, argon2: tuple[int, int, int] | None, **kw: Any
) -> Result:
    """The crowd, with argon2 alone measured just before and just after it: on a shared
    machine that rate moved 3x within minutes, so the invocation's one figure (taken before
    the first target's run) is no fair yardstick for a login rate measured later."""
    before = (await asyncio.to_thread(argon2_alone, argon2))["hashes_per_s"]
    result = await measure_crowd(ep, clients, **kw)
    after = (await asyncio.to_thread(argon2_alone, argon2))["hashes_per_s"]
    alone = (before + after) / 2
    result.update(
        {
            "argon2_alone_before": before,
            "argon2_alone_after": after,
            "argon2_alone_per_s": round(alone, 1),
        }
    )
    if "logins_per_s" in result and alone:
        result["logins_of_argon2_alone"] = round(result["logins_per_s"] / alone, 3)
    return result


async def _durable(ep: Endpoint, clients: list[User], **kw: Any) -> Result:
    return await measure_durable(ep, clients, **kw)


async def run_once(
    scn: Scenario, target: Target, args: argparse.Namespace, profile: Path | None
) -> Result:
    """A fresh server, one measurement (bounded by --run-timeout), a graceful stop. Failures
    become an "error" entry so the other runs still happen."""
    quiet_s, busy = await wait_for_quiet(busy_cores=args.quiet_cores, max_wait=args.quiet_wait)
    before = {
        "quiet_wait_s": round(quiet_s, 1),
        "machine_cores_busy_before": round(busy, 2),
        "loadavg_before": os.getloadavg()[0],
    }
    try:
        server = start(
            target.server,
            shlex.split(args.torbit_cmd) if args.torbit_cmd else None,
            login_timeout=args.login_wait,
            argon2=args.argon2,
            doors={target.dialect: target.door} if target.door else None,
        )
    except ServerError as e:
        return {"error": str(e), **before}
    clients: list[User] = []
    recorder = (
        Recorder(server.pid, profile, native=args.profile_native) if profile is not None else None
    )
    result: Result
    try:
        if target.dialect not in server.ports:
            raise ServerError(f"{server.kind} has no {target.dialect} door")
        ep = Endpoint(
            server.ports[target.dialect],
            server.pid,
            target.client,
            on_window=recorder.window if recorder else None,
        )
        result = await asyncio.wait_for(scn.measure(ep, clients), args.run_timeout)
        server.check_alive()
    except Exception as e:  # report and go on: one failed run must not lose the others
        if isinstance(e, TimeoutError):
            e = TimeoutError(f"run took longer than --run-timeout {args.run_timeout:g} s")
        result = {"error": f"{type(e).__name__}: {e}", "server_output": server.tail()}
    finally:
        if recorder is not None:
            result_note = recorder.stop()
        t = time.monotonic()
        # stop in a thread: the loop keeps reading, so the server's goodbyes are not stuck
        code = await asyncio.to_thread(server.stop)
        stop_s = time.monotonic() - t
        for c in clients:
            c.close()
        server.cleanup(args.keep)
        gc.collect()
    if recorder is not None:
        result["profile"] = str(profile)
        result["py_spy"] = result_note
    result.update(before, exit_code=code, stop_s=round(stop_s, 2))
    if code not in server.clean_exit and "error" not in result:
        result["warning"] = f"exit code {code}"
    return result


def median(values: list[Any]) -> float | None:
    nums = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    return statistics.median(nums) if nums else None


def worst(values: list[Any], better: str) -> float | None:
    nums = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    if not nums or not better:
        return None
    return max(nums) if better == "lower" else min(nums)


def pairs(targets: list[str]) -> list[tuple[str, str]]:
    """(subject, peer) for every ratio shown: each subject ÷ each non-subject, and a later
    subject ÷ an earlier one (torbit-irc ÷ torbit)."""
    subjects = [s for s in SUBJECTS if s in targets]
    return [
        (s, p)
        for s in subjects
        for p in targets
        if p != s and (p not in subjects or subjects.index(p) < subjects.index(s))
    ]


def summarize(scn: Scenario, runs: dict[str, list[Result]]) -> Result:
    """Medians and worst runs per target; the median of per-repeat ratios subject ÷ peer (each
    subject run divided by the peer's run of the same repeat: the same machine load, as far
    as it can be had), keyed "torbit ÷ inspircd"; and the targets, checked on those for each
    subject."""
    keys = sorted({k for rs in runs.values() for r in rs for k in r})
    med = {t: {k: median([r.get(k) for r in rs]) for k in keys} for t, rs in runs.items()}
    bad = {
        t: {row.key: worst([r.get(row.key) for r in rs], row.better) for row in scn.rows}
        for t, rs in runs.items()
    }
    ratios: dict[str, dict[str, float | None]] = {}
    for subject, peer in pairs(list(runs)):
        for row in scn.rows:
            per = [
                mine[row.key] / theirs[row.key]
                for mine, theirs in zip(runs[subject], runs[peer], strict=False)
                if _number(theirs.get(row.key)) and theirs[row.key] and _number(mine.get(row.key))
            ]
            ratios.setdefault(f"{subject} ÷ {peer}", {})[row.key] = (
                statistics.median(per) if per else None
            )
    checks: dict[str, dict[str, Result]] = {}
    for subject in (s for s in SUBJECTS if s in runs):
        for row in scn.rows:
            if row.check is None:
                continue
            q = {
                label.split(" ÷ ")[1]: v
                for label, by_key in ratios.items()
                if label.startswith(subject + " ÷ ") and (v := by_key[row.key]) is not None
            }
            checks.setdefault(subject, {})[row.key] = {
                "target": row.target,
                "met": row.check(med[subject].get(row.key), q),
            }
    return {
        "title": scn.title,
        "runs": runs,
        "median": med,
        "worst": bad,
        "ratio": ratios,
        "checks": checks,
    }


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def table(scn: Scenario, summary: Result, repeats: int) -> str:
    med, bad, ratios, checks = (summary[k] for k in ("median", "worst", "ratio", "checks"))
    targets = list(summary["runs"])
    peers = list(ratios)  # "subject ÷ peer"
    head = ["metric", *targets, *peers, "target", "met"]
    lines = [
        f"### {scn.title}",
        "",
        "| " + " | ".join(head) + " |",
        "|---|" + "---:|" * (len(targets) + len(peers)) + "---|---|",
    ]
    for row in scn.rows:
        cells = [row.label]
        for t in targets:
            cell = fmt(med[t].get(row.key))
            w = bad[t].get(row.key)
            if repeats > 1 and w is not None and cell != "—":
                cell += f" ({fmt(w)})"
            cells.append(cell)
        for p in peers:
            r = ratios[p].get(row.key)
            cells.append(f"{r:.2f}" if row.better and r is not None else "")
        met = [
            (s, "yes" if c[row.key]["met"] else "**no**") for s, c in checks.items() if row.key in c
        ]
        met_cell = met[0][1] if len(met) == 1 else ", ".join(f"{s} {m}" for s, m in met)
        cells += [row.target, met_cell]
        lines.append("| " + " | ".join(cells) + " |")
    errors = [
        f"- {t} run {i + 1}: {r['error'].splitlines()[0]}"
        for t, rs in summary["runs"].items()
        for i, r in enumerate(rs)
        if "error" in r
    ]
    return "\n".join(lines + (["", *errors] if errors else []))


def machine() -> Result:
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=BENCH_DIR,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        rev = ""
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "git_rev": rev,
        "loadavg": os.getloadavg(),
    }


def argon2_alone(params: tuple[int, int, int] | None, seconds: float = 2.0) -> Result:
    """Password hashes/s this machine allows at torbit's settings through torbit's own hasher
    (core/argon2id.py), one thread per core: what a login rate is held against."""
    from concurrent.futures import ThreadPoolExecutor

    hasher = torbit_hasher(params)
    threads = os.cpu_count() or 1
    end = time.monotonic() + seconds

    def hash_until_end() -> int:
        n = 0
        while time.monotonic() < end:
            hasher.hash("bench-password")
            n += 1
        return n

    t = time.monotonic()
    with ThreadPoolExecutor(threads) as pool:
        count = sum(pool.map(lambda _i: hash_until_end(), range(threads)))
    return {
        "argon2": params or "torbit defaults",
        "threads": threads,
        "hashes_per_s": round(count / (time.monotonic() - t), 1),
    }


async def main_async(args: argparse.Namespace, stamp: str) -> Result:
    names = args.targets.split(",")
    targets = [t for t in TARGETS if t.name in names]
    report: Result = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "args": vars(args),
        "machine": machine(),
        "scenarios": {},
    }
    chosen = scenarios(args)
    if any(s.key == "crowd" for s in chosen) and any(t.server == "torbit" for t in targets):
        report["argon2_alone"] = alone = await asyncio.to_thread(argon2_alone, args.argon2)
        log(f"argon2 alone: {alone}")
    for scn in chosen:
        here = [t for t in targets if t.dialect in scn.dialects]
        runs: dict[str, list[Result]] = {t.name: [] for t in here}
        for rep in range(args.repeat):
            # rotate who goes first, so no target always gets the quieter slot
            for target in here[rep % len(here) :] + here[: rep % len(here)]:
                log(f"{scn.key} {target.name} run {rep + 1}/{args.repeat} ...")
                profile = None
                if args.profile and target.name in SUBJECTS:
                    door = target.name.removeprefix(SUBJECT)  # "" or "-irc"
                    profile = args.profile / f"{stamp}-{scn.key}{door}-{rep + 1}.txt"
                t = time.monotonic()
                r = await run_once(scn, target, args, profile)
                runs[target.name].append(r)
                shown = {k: r.get(k) for k in [row.key for row in scn.rows][:4]}
                log(f"  {time.monotonic() - t:.1f} s: {r.get('error') or shown}")
                if profile is not None and profile.exists():
                    log(hottest(profile, 12))
        summary = report["scenarios"][scn.key] = summarize(scn, runs)
        print(table(scn, summary, args.repeat) + "\n", flush=True)
    if "argon2_alone" in report:
        a = report["argon2_alone"]
        print(
            f"argon2 alone at the bench's cost {a['argon2']}: {a['hashes_per_s']:,} hashes/s "
            f"on {a['threads']} threads\n",
            flush=True,
        )
    return report


FULL = {
    "receivers": [1000, 500],
    "burst_receivers": 1000,
    "crowd": 10_000,
    "seconds": 10.0,
    "warmup": 3.0,
    "repeat": 3,
    "durable_senders": 50,
    "quiet_wait": 60.0,
    "run_timeout": 1800.0,
}
QUICK = {
    "receivers": [200, 100],
    "burst_receivers": 200,
    "crowd": 1000,
    "seconds": 3.0,
    "warmup": 1.0,
    "repeat": 1,
    "durable_senders": 10,
    "quiet_wait": 5.0,
    "run_timeout": 300.0,
}


def argon2_setting(text: str) -> tuple[int, int, int] | None:
    if text == "default":
        return None
    t, m, p = (int(x) for x in text.split(","))
    return t, m, p


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument(
        "--scenario", default="all", help="comma-separated: steady, burst, crowd, durable, or all"
    )
    p.add_argument(
        "--targets",
        default=",".join(t.name for t in TARGETS),
        help="comma-separated subset of " + ", ".join(t.name for t in TARGETS),
    )
    p.add_argument(
        "--quick", action="store_true", help=f"smoke-run sizes: {QUICK} (flags given still win)"
    )
    p.add_argument(
        "--repeat", type=int, help=f"runs per target; medians (default {FULL['repeat']})"
    )
    p.add_argument("--seconds", type=float, help="measured window")
    p.add_argument("--warmup", type=float, help="traffic before measuring")
    p.add_argument(
        "--receivers",
        type=lambda s: [int(x) for x in s.split(",")],
        help="steady: receivers, one table per count (default 1000,500)",
    )
    p.add_argument("--rate", type=float, default=100.0, help="steady: messages/s sent")
    p.add_argument(
        "--gen-procs",
        type=int,
        default=1,
        help="steady: generator processes the receivers are spread over (the sender's is one)",
    )
    p.add_argument("--burst-receivers", type=int, help="burst: receivers (default 1000)")
    p.add_argument(
        "--window", type=int, default=64, help="burst: messages not yet delivered to everyone"
    )
    p.add_argument("--crowd", type=int, help="crowd: connections N (default 10,000)")
    p.add_argument("--concurrency", type=int, default=50, help="logins in flight at once")
    p.add_argument(
        "--login-wait",
        type=float,
        default=600.0,
        help="seconds one login may take (the servers' login timeouts match)",
    )
    p.add_argument(
        "--argon2",
        type=argon2_setting,
        default=ARGON2_CHEAP,
        help="torbit's password hashing: TIME,MEMORY_KIB,LANES or 'default'",
    )
    p.add_argument("--durable-senders", type=int, help="durable: senders (default 50)")
    p.add_argument(
        "--durable-window", type=int, default=32, help="durable: messages in flight per sender"
    )
    p.add_argument("--run-timeout", type=float, help="seconds one run may take (default 1800)")
    p.add_argument(
        "--quiet-cores",
        type=float,
        default=0.5,
        help="before each run, wait until the machine uses fewer cores than this",
    )
    p.add_argument("--quiet-wait", type=float, help="… but at most this long (default 60)")
    p.add_argument(
        "--profile",
        type=Path,
        nargs="?",
        const=BENCH_DIR / "results",
        help="py-spy the torbit targets' measured windows into this directory (perturbs them)",
    )
    p.add_argument(
        "--profile-storm",
        action="store_true",
        help="crowd: profile the disconnect storm instead of the login storm",
    )
    p.add_argument(
        "--profile-native",
        action="store_true",
        help="profile C frames too (py-spy --native: uvloop, libuv, the syscalls)",
    )
    p.add_argument("--torbit-cmd", default="", help="instead of `.venv/bin/torbit serve`")
    p.add_argument("--keep", action="store_true", help="keep the servers' temp dirs")
    args = p.parse_args(argv)
    for key, value in (QUICK if args.quick else FULL).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    raise_open_files_limit()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    report = uvloop.run(main_async(args, stamp))
    runs = (r for s in report["scenarios"].values() for rs in s["runs"].values() for r in rs)
    return saved(report, args.scenario.replace(",", "+"), runs, stamp)


if __name__ == "__main__":
    sys.exit(main())
