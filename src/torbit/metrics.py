"""Prometheus metrics, in a registry of our own so several servers can live in one process
(tests) without clashing."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from torbit.core.health import Health


class _Deliveries(Collector):
    """torbit_messages_out, read from the hub's plain counter when scraped: the fan-out path
    then pays nothing for it (a Counter takes a lock per increment)."""

    def __init__(self, count: Callable[[], int]) -> None:
        self._count = count

    def collect(self) -> Iterator[CounterMetricFamily]:
        yield CounterMetricFamily(
            "torbit_messages_out", "Message deliveries handed to clients", value=self._count()
        )


class _InputBytes(Collector):
    """torbit_input_bytes, from each line door's plain counter (a read pays an addition)."""

    def __init__(self) -> None:
        self.doors: dict[str, Callable[[], int]] = {}

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "torbit_input_bytes", "Bytes read from clients of a line door", labels=["door"]
        )
        for door, count in self.doors.items():
            family.add_metric([door], count())
        yield family


class _Latency(Histogram):
    """A Histogram that takes n equal observations at the cost of one: the messages of one
    publish share their send time, so their delivery lag is one value (a lock and a bucket
    scan per message were 4% of the server's CPU at 30,000 committed messages/s). Written on
    prometheus_client's own fields, as its `observe` does (tests/unit/test_metrics.py holds
    it to n calls of `observe`)."""

    def observe_many(self, amount: float, n: int) -> None:
        self._raise_if_not_observable()  # type: ignore[no-untyped-call]
        self._sum.inc(amount * n)
        for i, bound in enumerate(self._upper_bounds):
            if amount <= bound:
                self._buckets[i].inc(n)
                break


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.connected = Gauge(
            "torbit_connected_clients", "Connected clients", ["door"], registry=self.registry
        )
        self._connected: dict[str, Gauge] = {}
        self.messages_in = Counter(
            "torbit_messages_in",
            "Messages accepted and made durable",
            ["door"],
            registry=self.registry,
        )
        self._sent: dict[str, Counter] = {}
        self._deliveries: Callable[[], int] = lambda: 0
        self.registry.register(_Deliveries(lambda: self._deliveries()))
        self.delivery_latency = _Latency(
            "torbit_delivery_latency_seconds",
            "From a message's send time to its fan-out on this node",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )
        self.dropped_clients = Counter(
            "torbit_dropped_slow_clients",
            "Clients dropped for not reading",
            ["door"],
            registry=self.registry,
        )

        self.connections_refused = Counter(
            "torbit_connections_refused",
            "New connections refused at once: the server full, too many open from the address,"
            " or the address connecting too fast (limits.*)",
            ["door", "limit"],
            registry=self.registry,
        )
        self._refused: dict[tuple[str, str], Counter] = {}

        self.irc_commands_delayed = Counter(
            "torbit_irc_commands_delayed",
            "IRC commands held back by command pacing until the client's spending was paid",
            registry=self.registry,
        )
        self.irc_excess_flood = Counter(
            "torbit_irc_excess_flood",
            "IRC clients closed with Excess Flood: too many commands waiting",
            registry=self.registry,
        )
        self.input_held = Counter(
            "torbit_input_held",
            "Reading paused for a connection past its input byte budget (limits.input_rate)",
            ["door"],
            registry=self.registry,
        )
        self._input_bytes = _InputBytes()
        self.registry.register(self._input_bytes)

        self.transcript_lost = Counter(
            "torbit_transcript_lines_lost",
            "Transcript lines that could not be written (a full disk); the messages are stored",
            registry=self.registry,
        )

        # what an operator alerts on in an outage (docs/operations.md, "Alerts")
        self.backend_up = Gauge(
            "torbit_backend_up",
            "1 while the backend answers, 0 from a failed operation or probe until a probe "
            "succeeds (probed every few seconds)",
            ["backend"],
            registry=self.registry,
        )
        self.backend_failures = Counter(
            "torbit_backend_failures",
            "Operations (and probes) that failed because the backend could not be reached",
            ["backend", "reason"],
            registry=self.registry,
        )
        self.publish_failures = Counter(
            "torbit_publish_failures",
            "Sends refused because the message log did not make them durable",
            ["reason"],
            registry=self.registry,
        )

    def watch_backend(self, backend: str, health: Health) -> None:
        """Count `health`'s failures as `backend`'s ("store", "message_log"); up until told."""
        up = self.backend_up.labels(backend)
        up.set(1)

        def failed(reason: str) -> None:
            up.set(0)
            self.backend_failures.labels(backend, reason).inc()

        health.on_failure = failed
        if backend == "message_log":
            health.on_publish_failure = lambda reason: self.publish_failures.labels(reason).inc()

    def connected_on(self, door: str) -> Gauge:
        """One door's connected-clients gauge, looked up once: a `labels` call costs ~2 µs,
        paid by each of 10,000 clients closing in one loop turn."""
        gauge = self._connected.get(door)
        if gauge is None:
            gauge = self._connected[door] = self.connected.labels(door)
        return gauge

    def sent_on(self, door: str) -> Counter:
        """One door's `messages_in`, looked up once: `labels` was ~7 of a telnet message's
        ~220 Python calls (bench/JOURNAL.md, `permsg`)."""
        counter = self._sent.get(door)
        if counter is None:
            counter = self._sent[door] = self.messages_in.labels(door)
        return counter

    def refused_on(self, door: str, limit: str) -> Counter:
        """`connections_refused` of a door and limit, looked up once (a storm asks each
        refusal)."""
        counter = self._refused.get((door, limit))
        if counter is None:
            counter = self._refused[door, limit] = self.connections_refused.labels(door, limit)
        return counter

    def input_held_on(self, door: str) -> Counter:
        """`input_held` of one door (rare: looked up each time)."""
        return self.input_held.labels(door)

    def count_input(self, door: str, count: Callable[[], int]) -> None:
        """Where torbit_input_bytes of a line door ("telnet", "irc") comes from."""
        self._input_bytes.doors[door] = count

    def watch_lag(self, lag: Callable[[], int]) -> None:
        """torbit_message_log_lag, read from the message log when scraped (Kafka's only)."""
        Gauge(
            "torbit_message_log_lag",
            "Records of the partitions this node delivers that its consumer has fetched the end "
            "of but not delivered yet (its fan-out's delay, in messages; Kafka only)",
            registry=self.registry,
        ).set_function(lag)

    def count_deliveries(self, count: Callable[[], int]) -> None:
        """Where torbit_messages_out comes from (the hub's counter)."""
        self._deliveries = count
