"""The app log's writer thread writes whatever records queued up as one write per handler
(counted): a storm of logout lines costs the file one size check, one write and one flush per
batch, not per line, and keeps every line, formatted and in order."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from torbit.config import LogConfig
from torbit.logs import Logs


def test_records_queued_together_are_written_at_once_in_order(tmp_path: Path) -> None:
    logs = Logs(LogConfig(dir=tmp_path))
    handler = logs._app_handler
    writes: list[int] = []  # lines in each write
    real_emit = handler.emit

    def counted_emit(record: logging.LogRecord) -> None:
        writes.append(record.getMessage().count("\n") + 1)
        real_emit(record)

    handler.emit = counted_emit  # type: ignore[method-assign]
    log = logging.getLogger("torbit.storm")
    n = 300
    handler.acquire()  # the writer waits here with whatever it took first; the rest queue up
    try:
        for i in range(n):
            log.info("logout user%d from telnet 127.0.0.1:%d", i, 40000 + i)
        log.warning("the last one")
    finally:
        handler.release()
    logs.close()
    lines = (tmp_path / "torbit.log").read_text().splitlines()
    assert [line.split(" ", 4)[3:] for line in lines] == [
        ["torbit.storm", f"logout user{i} from telnet 127.0.0.1:{40000 + i}"] for i in range(n)
    ] + [["torbit.storm", "the last one"]]
    assert lines[0].split(" ")[2] == "INFO" and lines[-1].split(" ")[2] == "WARNING"
    assert sum(writes) == n + 1
    assert len(writes) <= 2  # what the writer took before the lock, then everything else


def test_records_that_trickle_in_are_written_a_batch_per_hold(tmp_path: Path) -> None:
    """A login line per WebSocket opened, each alone in the queue when it comes: the writer
    waits its hold once woken, then writes them together (main: one write per line, and the
    event loop traded the GIL with the writer for each). Closing cuts the hold short."""
    logs = Logs(LogConfig(dir=tmp_path))
    handler = logs._app_handler
    writes: list[int] = []
    real_emit = handler.emit

    def counted_emit(record: logging.LogRecord) -> None:
        writes.append(record.getMessage().count("\n") + 1)
        real_emit(record)

    handler.emit = counted_emit  # type: ignore[method-assign]
    logs._writer.hold = 60.0
    log = logging.getLogger("torbit.trickle")
    for i in range(20):
        log.info("login user%d from websocket", i)
        time.sleep(0.002)  # the writer thread gets the GIL between two lines
    logs.close()
    assert writes == [20]
    lines = (tmp_path / "torbit.log").read_text().splitlines()
    assert [line.rsplit(" ", 3)[1] for line in lines] == [f"user{i}" for i in range(20)]


def test_a_record_that_cannot_be_formatted_does_not_lose_the_others(tmp_path: Path) -> None:
    logs = Logs(LogConfig(dir=tmp_path))
    log = logging.getLogger("torbit.storm")
    log.info("before")
    log.error("broken", exc_info=(ValueError, ValueError("inside"), None))
    log.info("after")
    logs.close()
    text = (tmp_path / "torbit.log").read_text()
    assert "before" in text and "ValueError: inside" in text and "after" in text


def test_libraries_warnings_reach_the_app_log_with_a_time_and_their_name(tmp_path: Path) -> None:
    """aiokafka losing its broker logs on its own logger: on main those lines went, bare (no
    time, no logger), to stderr only, through Python's last-resort handler, never to
    torbit.log."""
    logs = Logs(LogConfig(dir=tmp_path))
    try:
        logging.getLogger("aiokafka.cluster").error("Unable connect to node with id %d", 1)
        logging.getLogger("aiokafka.conn").info("chatter below WARNING stays out")
        logging.getLogger("torbit.test").warning("torbit's own line, once")
    finally:
        logs.close()
    lines = (tmp_path / "torbit.log").read_text().splitlines()
    assert [line.split(" ", 2)[2] for line in lines] == [
        "ERROR aiokafka.cluster Unable connect to node with id 1",
        "WARNING torbit.test torbit's own line, once",
    ]
    logging.getLogger("aiokafka.cluster").error("after close: not in the file")
    assert len((tmp_path / "torbit.log").read_text().splitlines()) == 2
