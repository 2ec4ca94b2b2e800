"""The crowd measurement: N users log in (the login rate), sit idle in the default room (server
memory per connection, read at N/2 and N; the server's CPU while they idle), get a slow 1 → N
fan-out (send → receive latency with N listeners), then all vanish at once (how long a
newcomer waits for the server's first words, and the longest stretch the server stops
answering).

One pass measures all of it because the expensive part, logging N users in, is the same.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import threading
import time
from functools import partial

from loadgen import Endpoint, Result
from procstat import cpu_seconds, rss_bytes, settle
from users import DEFAULT_LOGINS, HOST, PASSWORD, LoginFailed, Logins, User, ignore, login_many


class Asker(threading.Thread):
    """Asks the server something any of its states answers at once, from a thread over plain
    blocking sockets, one question at a time every `interval` seconds, and keeps the longest
    wait for an answer: while the server's loop is stuck, the answer is late by as much.

    - the stall probe (`fresh=False`): one connection, the dialect's PROBE (telnet "Are You
      There", IRC PING), until one of its PROBE_REPLIES;
    - newcomers (`fresh=True`): a new connection each time, sending the dialect's KNOCK (telnet:
      nothing, the server speaks first), until the server's first bytes; the connect counts.

    A thread, not the generator's event loop, because that loop is itself busy when thousands
    of its connections close at once (a thread still runs every switch interval, 5 ms, so the
    error is a few ms)."""

    def __init__(
        self, port: int, user: type[User], *, fresh: bool = False, interval: float = 0.01
    ) -> None:
        super().__init__(name="newcomers" if fresh else "stall-probe", daemon=True)
        self.port = port
        self.fresh = fresh
        self.question = user.KNOCK if fresh else user.PROBE
        self.replies = () if fresh else user.PROBE_REPLIES
        self.login = b"" if fresh or not user.PROBE_READY else user.opening("stallprobe", PASSWORD)
        self.ready = user.PROBE_READY
        self.interval = interval
        self.answers = 0
        self.first = 0.0  # the first answer's wait
        self.error = ""
        self._longest = 0.0
        self._asked_at = 0.0  # when the question now waiting was asked (0: none waiting)
        self._done = threading.Event()
        self.logged_in = threading.Event()  # set once the probe asks (after its login's reply)

    def run(self) -> None:
        try:
            if self.fresh:
                while not self._done.is_set():
                    self._asked_at = time.monotonic()
                    with socket.create_connection((HOST, self.port), timeout=0.2) as s:
                        self._ask(s)
                    self._done.wait(self.interval)
            else:
                with socket.create_connection((HOST, self.port), timeout=0.2) as s:
                    if self.login:  # logged in first, not timed
                        s.sendall(self.login)
                        self._read_until(s, (self.ready,))
                    self.logged_in.set()
                    while not self._done.is_set():
                        self._asked_at = time.monotonic()
                        self._ask(s)
                        self._done.wait(self.interval)
        except OSError as e:
            self.error = f"{type(e).__name__}: {e}"

    def _ask(self, s: socket.socket) -> None:
        t = self._asked_at
        if self.question:
            s.sendall(self.question)
        if not self._read_until(s, self.replies):
            return
        self._asked_at = 0.0
        wait = time.monotonic() - t
        self._longest = max(self._longest, wait)
        self.answers += 1
        self.first = self.first or wait

    def _read_until(self, s: socket.socket, replies: tuple[bytes, ...]) -> bool:
        """Reads until one of `replies` (any bytes if none) and True, or False when stopped.
        A logged-in IRC probe answers the server's keep-alive PINGs on the way."""
        buf = b""
        while not buf or (replies and not any(r in buf for r in replies)):
            try:
                data = s.recv(65536)
            except TimeoutError:
                if self._done.is_set():
                    return False
                continue
            if not data:
                raise ConnectionResetError("the server closed the connection")
            if self.login and (data.startswith(b"PING ") or b"\nPING " in data):
                for line in data.split(b"\r\n"):
                    if line.startswith(b"PING "):
                        s.sendall(b"PONG " + line[5:] + b"\r\n")
            buf = buf[-64:] + data
        return True

    def restart(self) -> None:
        """Forget the longest wait so far."""
        self._longest = 0.0

    def longest(self) -> float:
        """The longest wait since `restart`, counting a question still unanswered."""
        asked = self._asked_at
        waiting = time.monotonic() - asked if asked else 0.0
        return max(self._longest, waiting)

    def stop(self) -> None:
        self._done.set()
        self.join(5)


async def newcomer(ep: Endpoint, max_wait: float) -> float:
    """A new user connects and logs in: seconds until it is logged in and in the room."""
    loop = asyncio.get_running_loop()
    t = time.monotonic()
    _t, user = await loop.create_connection(partial(ep.user, "newcomer", "lobby"), HOST, ep.port)
    user.knock()
    try:
        await asyncio.wait_for(user.ready, max_wait)
    except TimeoutError:
        raise LoginFailed(f"newcomer: no login within {max_wait:g} s") from None
    finally:
        user.close()
    return user.ready_at - t


async def measure_crowd(
    ep: Endpoint,
    clients: list[User],
    *,
    connections: int = 10_000,
    logins: Logins = DEFAULT_LOGINS,
    drain_wait: float = 120.0,
    profile_storm: bool = False,
) -> Result:
    """Server memory per logged-in idle connection is (RSS with N − RSS before) / N; RSS is
    also read at N/2, and the second half's slope leaves out one-time costs (caches, pools,
    allocator arenas) that the first connections pay. Then all N close at once."""
    # with profile_storm, the measured window (the profile) is everyone leaving, not logging in
    quiet = dataclasses.replace(ep, on_window=None) if profile_storm else ep
    result = await log_in_crowd(quiet, clients, connections, logins)
    result.update(await idle_and_fan_out(ep, clients))
    # the probe starts only now: one that does not log in (telnet's) meets the login timeout
    probe = Asker(ep.port, ep.user)
    probe.start()
    try:
        # InspIRCd registers after 1 s; a probe refused its login would report 0 ms
        if not await asyncio.to_thread(probe.logged_in.wait, 30.0):
            probe.error = probe.error or "the stall probe did not log in within 30 s"
        await asyncio.sleep(1.0)
        # a probe the server closed measured nothing: no figure (its error is reported)
        result["probe_quiet_ms"] = None if probe.error else round(probe.longest() * 1e3, 1)
        if profile_storm:
            ep.window(True)
            await asyncio.sleep(1.0)  # py-spy attaches
        result.update(await everyone_leaves(ep, clients, probe, logins, drain_wait))
        if profile_storm:
            ep.window(False)
    finally:
        probe.stop()
    return result


async def idle_and_fan_out(
    ep: Endpoint, clients: list[User], *, idle_s: float = 5.0, messages: int = 10, rate: float = 2.0
) -> Result:
    """With all N logged in and quiet: the server's CPU at idle over `idle_s`, then one of
    the warm-up users sends `messages` at `rate` to the room of N: send → receive latency of
    every delivery to the crowd (the sender's own echo left out), loss, CPU per delivery."""
    cpu0, t0 = cpu_seconds(ep.pid), time.monotonic()
    await asyncio.sleep(idle_s)
    idle_cores = (cpu_seconds(ep.pid) - cpu0) / (time.monotonic() - t0)
    sender, crowd = clients[0], [u for u in clients[1:] if u.name.startswith("i")]
    latencies: list[float] = []

    def sink(_user: User, lines: bytes) -> None:
        if b"^" not in lines:
            return
        now = time.monotonic_ns()
        for piece in lines.split(b"^")[1:]:  # a slow server's chunk holds several messages
            parts = piece.split(None, 2)
            if len(parts) >= 2 and parts[1].isdigit():
                latencies.append((now - int(parts[1])) / 1e6)

    for u in crowd:
        u.sink = sink
    cpu0 = cpu_seconds(ep.pid)
    for i in range(messages):
        sender.say(f"^{i} {time.monotonic_ns()}".encode())
        await asyncio.sleep(1 / rate)
    expected = messages * sum(not u.lost for u in crowd)
    deadline = time.monotonic() + 30
    while len(latencies) < expected and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    cpu = cpu_seconds(ep.pid) - cpu0
    for u in crowd:
        u.sink = ignore
    latencies.sort()

    def pct(q: float) -> float | None:
        return (
            round(latencies[min(len(latencies) - 1, int(q * len(latencies)))], 2)
            if latencies
            else None
        )

    return {
        "idle_cpu_cores": round(idle_cores, 4),
        "fanout_deliveries": len(latencies),
        "fanout_loss": expected - len(latencies),
        "fanout_p50_ms": pct(0.5),
        "fanout_p99_ms": pct(0.99),
        "fanout_cpu_us_per_delivery": round(1e6 * cpu / len(latencies), 2) if latencies else None,
    }


async def log_in_crowd(
    ep: Endpoint, clients: list[User], connections: int, logins: Logins
) -> Result:
    # A first batch of logins, as many at once as later, warms what every later one uses: the
    # store, and the password hasher's threads, whose arenas keep what argon2 used (8 MiB a
    # hash at the bench's cost: 40 MB on 5 threads, i.e. 4 KB a connection at 10,000).
    await login_many(
        ep.port,
        [partial(ep.user, f"w{i:05d}", "lobby") for i in range(logins.concurrency)],
        clients,
        logins,
    )
    await settle(ep.pid)
    rss0 = rss_bytes(ep.pid)
    makers = [partial(ep.user, f"i{i:05d}", "lobby") for i in range(connections)]
    half = connections // 2
    ep.window(True)  # the login storm
    t0 = time.monotonic()
    crowd = await login_many(ep.port, makers[:half], clients, logins)
    login_s = time.monotonic() - t0
    ep.window(False)
    await settle(ep.pid, max_wait=300)
    rss_half = rss_bytes(ep.pid)
    t1 = time.monotonic()
    crowd += await login_many(ep.port, makers[half:], clients, logins)
    login_s += time.monotonic() - t1
    done = sorted(u.ready_at for u in crowd)
    tenth = max(len(done) // 10, 2)
    settle_s = await settle(ep.pid, max_wait=300)
    rss1 = rss_bytes(ep.pid)
    alive = sum(not u.lost for u in crowd)
    result: Result = {
        "connections": connections,
        "alive": alive,
        "login_s": round(login_s, 2),
        "logins_per_s": round(connections / login_s, 1),
        # does logging in slow down as the room fills?
        "logins_per_s_first_tenth": round((tenth - 1) / max(done[tenth - 1] - done[0], 1e-9), 1),
        "logins_per_s_last_tenth": round((tenth - 1) / max(done[-1] - done[-tenth], 1e-9), 1),
        "settle_s": round(settle_s, 2),
        "received_mb": round(sum(u.bytes_received for u in crowd) / 2**20, 1),
        "rss_start_mb": round(rss0 / 2**20, 1),
        "rss_half_mb": round(rss_half / 2**20, 1),
        "rss_connected_mb": round(rss1 / 2**20, 1),
        "kb_per_conn": round((rss1 - rss0) / connections / 1024, 3),
        "kb_per_conn_half": round((rss_half - rss0) / half / 1024, 3),
        "kb_per_conn_second_half": round((rss1 - rss_half) / (connections - half) / 1024, 3),
    }
    return result


async def everyone_leaves(
    ep: Endpoint, clients: list[User], probe: Asker, logins: Logins, drain_wait: float
) -> Result:
    """Every connection in `clients` is aborted in one loop turn. From then until the server is
    idle, a newcomer connects every 0.1 s (timing the server's first words) while the probe
    keeps asking; one more newcomer logs in (its login time)."""
    probe.restart()
    cpu0 = cpu_seconds(ep.pid)
    t = time.monotonic()
    for u in clients:
        u.close()
    since = time.monotonic()
    newcomers = Asker(ep.port, ep.user, fresh=True, interval=0.1)
    newcomers.start()
    try:
        ready = await newcomer(ep, logins.max_wait)
        drain_s = await settle(ep.pid, max_wait=drain_wait)
    finally:
        newcomers.stop()
    return {
        "abort_s": round(since - t, 3),  # the generator's own time to close them all
        # newcomers every 0.1 s until the server is idle again: the worst one's wait
        "newcomer_prompt_ms": round(newcomers.longest() * 1e3, 1),
        "newcomer_prompt_first_ms": round(newcomers.first * 1e3, 1),
        "newcomers": newcomers.answers,
        "newcomer_error": newcomers.error or None,
        "newcomer_login_ms": round(ready * 1e3, 1),
        "stall_ms": None if probe.error else round(probe.longest() * 1e3, 1),
        "probe_answers": probe.answers,
        "probe_error": probe.error or None,
        "drain_s": round(time.monotonic() - since, 2),
        "drain_settle_s": round(drain_s, 2),
        "drain_cpu_s": round(cpu_seconds(ep.pid) - cpu0, 3),
        "rss_after_mb": round(rss_bytes(ep.pid) / 2**20, 1),
    }
