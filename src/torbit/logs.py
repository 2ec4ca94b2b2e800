"""The app log and the transcript log: both rotate by size and keep a bounded number of old
files. File writes happen on a background thread, never on the event loop. The transcript
holds private rooms' messages: both logs are created 0600 in a directory created 0700
(files.py)."""

from __future__ import annotations

import contextlib
import io
import logging
import logging.handlers
import queue
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from torbit.config import LogConfig
from torbit.core.models import Message, MessageKind
from torbit.errors import ConfigError
from torbit.files import private_dir, private_fd, tighten

TRANSCRIPT_FORMAT = "%(message)s"

log = logging.getLogger("torbit")


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """Every file it opens (the first, and each after a rollover) is owner-only. It always
    appends: a RotatingFileHandler with a size limit forces mode "a"."""

    def _open(self) -> io.TextIOWrapper:
        fd = private_fd(self.baseFilename, append=True)
        return open(fd, "a", encoding=self.encoding, errors=self.errors)


def drop_stream(handler: logging.FileHandler) -> None:
    """After a failed write: the next write opens the file afresh (a full disk freed)."""
    with handler.lock or contextlib.nullcontext():
        stream, handler.stream = handler.stream, None
    if stream is not None:
        with contextlib.suppress(Exception):  # its unwritten buffer goes with it
            stream.close()


class AppLogFileHandler(PrivateRotatingFileHandler):
    """The app log's file. One that cannot be written (a full disk) is said once on stderr,
    with no traceback, and tried again with a freshly opened file at each batch; its lines
    still reach stderr through the console handler."""

    failing = False
    _failed_now = False

    def emit(self, record: logging.LogRecord) -> None:
        self._failed_now = False
        super().emit(record)
        if self._failed_now:
            drop_stream(self)
        elif self.failing:
            self.failing = False
            sys.stderr.write(f"torbit: {self.baseFilename} is written again\n")

    def handleError(self, record: logging.LogRecord) -> None:
        self._failed_now = True
        if not self.failing:
            self.failing = True
            e = sys.exc_info()[1]
            why = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            sys.stderr.write(
                f"torbit: {self.baseFilename} cannot be written: {why}; its lines still "
                "reach stderr\n"
            )


def _rotating(
    path: Path,
    cfg: LogConfig,
    fmt: str,
    kind: type[PrivateRotatingFileHandler] = PrivateRotatingFileHandler,
) -> PrivateRotatingFileHandler:
    for n in range(1, cfg.backups + 1):  # old files written before files were private
        tighten(path.with_name(f"{path.name}.{n}"))
    handler = kind(path, maxBytes=cfg.max_bytes, backupCount=cfg.backups, encoding="utf-8")
    handler.setFormatter(logging.Formatter(fmt))
    return handler


class Transcript:
    """Every room message as one line: ISO time, room, sender, text.

    The event loop only queues what was committed together (`write_all`: one queue entry
    however many messages and rooms); a thread formats it and writes whatever has queued up
    as one log record, so the rotating handler runs once per batch, not per message (a
    LogRecord per message was 15% of the server's CPU at 40,000 messages/s; a queued line per
    message, and the thread's wake-up for each, were 10% at 30,000 committed messages/s).
    Woken after a quiet spell, the thread waits `hold` seconds before it takes what queued
    (as the app log's, `_AppWriter`): a steady 100 messages/s to a big room woke it, and
    traded the GIL with the event loop, once per message (bench/JOURNAL.md, `steady`);
    `close` cuts a hold short, so every line is still written."""

    MAX_BATCH = 1000  # lines per record
    HOLD = 0.05  # seconds between a quiet thread's wake-up and its batch

    def __init__(
        self, handler: PrivateRotatingFileHandler, on_lost: Callable[[int], None] = lambda n: None
    ) -> None:
        self._queue: queue.SimpleQueue[Sequence[tuple[Sequence[Message], str]] | None] = (
            queue.SimpleQueue()
        )
        self._handler = handler
        handler.handleError = self._failed  # type: ignore[method-assign]
        self._on_lost = on_lost  # lines that could not be written (a metric)
        self._error: BaseException | None = None  # of this batch
        self.problem: str | None = None  # why the transcript is not being written, if so
        self.hold = self.HOLD
        self._closing = threading.Event()  # cuts a hold short
        self._thread = threading.Thread(target=self._drain, name="torbit-transcript", daemon=True)
        self._thread.start()

    def write_all(self, runs: Sequence[tuple[Sequence[Message], str]]) -> None:
        """Runs of messages, each of one room (with its display name), in order: one queue
        entry. An action keeps its marker: `* bob waves`."""
        self._queue.put_nowait(runs)

    def _drain(self) -> None:
        get, get_nowait = self._queue.get, self._queue.get_nowait
        while True:
            entry = get()
            if entry is not None and self.hold > 0:
                self._closing.wait(self.hold)
            batch: list[str] = []
            while entry is not None:
                for messages, room in entry:
                    _lines(messages, room, batch)
                if len(batch) >= self.MAX_BATCH:
                    break
                try:
                    entry = get_nowait()
                except queue.Empty:
                    break
            if batch:
                self._write(batch)
            if entry is None:
                return

    def _write(self, batch: list[str]) -> None:
        """One batch; a failure (a full disk) is told once, counted, and the next batch tries
        a freshly opened file, so writing resumes by itself once it can."""
        self._error = None
        self._handler.handle(
            logging.makeLogRecord({"msg": "\n".join(batch), "levelno": logging.INFO})
        )
        if self._error is None:
            if self.problem is not None:
                self.problem = None
                log.warning("transcript: writing again")
            return
        self._on_lost(len(batch))
        drop_stream(self._handler)
        if self.problem is None:
            e = self._error
            why = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            self.problem = f"cannot be written: {why}"
            log.error(
                "transcript %s: messages are stored, only their log lines are lost "
                "until it can be written again",
                self.problem,
            )

    def _failed(self, record: logging.LogRecord) -> None:
        """The handler's error hook: no traceback with the message text on stderr."""
        self._error = sys.exc_info()[1] or RuntimeError("unknown error")

    def close(self) -> None:
        self._closing.set()
        self._queue.put(None)
        self._thread.join()
        self._handler.close()


def _lines(messages: Sequence[Message], room: str, out: list[str]) -> None:
    """Append the transcript lines of messages of one room. Messages published together
    share their send time, so its ISO text is made once for each run of them."""
    at: object = None
    stamp = ""
    for m in messages:
        if m.sent_at is not at:
            at = m.sent_at
            stamp = f"{m.sent_at.isoformat()} #{room} "
        if m.kind is MessageKind.ACTION:
            out.append(f"{stamp}* {m.sender} {m.text}")
        else:
            out.append(f"{stamp}<{m.sender}> {m.text}")


class _ToWriter(logging.handlers.QueueHandler):
    """Hands each record to the writer thread as it is, its message merged with its
    arguments now (they may change later), where the standard handler formats it and copies
    the whole record first (`copy.copy`: a third of the loop's time logging 10,000 users out
    at once). The writer's handlers format it (and any traceback) there, off the loop; the
    queue is in-process, so nothing needs pickling."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        if record.args:
            record.msg = record.getMessage()
            record.args = None
        return record


def _not_torbit(record: logging.LogRecord) -> bool:
    """torbit's own records reach the app log through the `torbit` logger's handler."""
    return record.name != "torbit" and not record.name.startswith("torbit.")


class _AppWriter:
    """The app log's thread: whatever records have queued up are formatted here and written
    as one record to each handler (the file and the console), so the rotating handler's size
    check (two `stat()` calls), the write and the flush happen once per batch, not once per
    record and handler (the standard `QueueListener`). Logging 10,000 users out at once, the
    per-record thread took and gave back the GIL thousands of times while the event loop
    worked the departures off: 3,000 logouts took 0.57 s of server CPU with the app log on
    INFO, 0.25 s with it on WARNING (bench/JOURNAL.md). Woken by a record after a quiet
    spell, it waits `hold` seconds before it takes what queued: records that trickle in (a
    login line per WebSocket opened) are written a batch per `hold`, and the event loop's
    thread no longer trades the GIL with this one for each line (~15 % of the server's
    samples while 1,000 sockets opened: bench/JOURNAL.md)."""

    MAX_BATCH = 1000  # records per write
    HOLD = 0.05  # seconds between a quiet writer's wake-up and its batch

    def __init__(
        self,
        records: queue.SimpleQueue[logging.LogRecord | None],
        formatter: logging.Formatter,
        handlers: Sequence[logging.Handler],
    ) -> None:
        self._queue = records
        self._formatter = formatter
        self._handlers = handlers  # each formats with "%(message)s": the batch as it is
        self.hold = self.HOLD
        self._closing = threading.Event()  # cuts a hold short
        self._thread = threading.Thread(target=self._drain, name="torbit-log", daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        get, get_nowait = self._queue.get, self._queue.get_nowait
        while True:
            record = get()
            if record is not None and self.hold > 0:
                self._closing.wait(self.hold)
            batch: list[logging.LogRecord] = []
            while record is not None:
                batch.append(record)
                if len(batch) >= self.MAX_BATCH:
                    break
                try:
                    record = get_nowait()
                except queue.Empty:
                    break
            if batch:
                self._write(batch)
            if record is None:
                return

    def _write(self, batch: list[logging.LogRecord]) -> None:
        lines = []
        for r in batch:
            try:
                lines.append(self._formatter.format(r))
            except Exception:  # a record that cannot be formatted must not lose the others
                lines.append(f"{r.levelname} {r.name} {r.msg!r} (could not be formatted)")
        merged = logging.makeLogRecord(
            {"msg": "\n".join(lines), "levelno": max(r.levelno for r in batch)}
        )
        for handler in self._handlers:
            handler.handle(merged)

    def close(self) -> None:
        self._closing.set()
        self._queue.put(None)
        self._thread.join()


def lean_records() -> None:
    """No format of a serving process names a process, a thread or the caller's line: its
    records need not look them up (a getpid() syscall, two lookups and a walk up the stack
    each; a login and a logout write one: 13 % of the loop's time when 10,000 telnet clients
    leave at once, py-spy). The logging HOWTO's "Optimization" names these switches. Only for
    a serving process (app.py's `run`): a test process's records keep their caller."""
    logging.logProcesses = logging.logThreads = logging.logMultiprocessing = False
    logging._srcfile = None


class Logs:
    """The open log files of one server; `close()` flushes and detaches them."""

    def __init__(self, cfg: LogConfig, on_lost: Callable[[int], None] = lambda n: None) -> None:
        """`on_lost(n)`: n transcript lines could not be written."""
        try:
            private_dir(cfg.dir)
            probe = cfg.dir / ".write-test"
            probe.write_text("")
            probe.unlink()
        except OSError as e:
            raise ConfigError(
                f"config key log.dir: {cfg.dir} is not writable: {e.strerror}"
            ) from None
        fmt = "%(asctime)s %(levelname)s %(name)s %(message)s"
        self._app_handler = _rotating(cfg.dir / "torbit.log", cfg, "%(message)s", AppLogFileHandler)
        q: queue.SimpleQueue[logging.LogRecord | None] = queue.SimpleQueue()
        self._queue_handler = _ToWriter(q)
        self._console = logging.StreamHandler()
        self._console.setFormatter(logging.Formatter("%(message)s"))
        self._writer = _AppWriter(q, logging.Formatter(fmt), (self._app_handler, self._console))
        root = logging.getLogger("torbit")
        root.addHandler(self._queue_handler)
        root.setLevel(cfg.level)
        # the libraries' warnings and errors (aiokafka losing its broker, asyncpg, uvicorn):
        # in the app log with a time and their logger's name, not bare lines on stderr only
        self._libraries = _ToWriter(q)
        self._libraries.setLevel(logging.WARNING)
        self._libraries.addFilter(_not_torbit)
        logging.getLogger().addHandler(self._libraries)
        self.transcript = Transcript(
            _rotating(cfg.dir / "transcript.log", cfg, TRANSCRIPT_FORMAT), on_lost
        )

    def close(self) -> None:
        self.transcript.close()
        logging.getLogger("torbit").removeHandler(self._queue_handler)
        logging.getLogger().removeHandler(self._libraries)
        self._writer.close()
        self._app_handler.close()
