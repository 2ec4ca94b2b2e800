"""The app log and the transcript log: both rotate by size and keep a bounded number of old
files. File writes happen on a background thread, never on the event loop."""

from __future__ import annotations

import logging
import logging.handlers
import queue
from pathlib import Path

from torbit.config import LogConfig
from torbit.core.models import Message
from torbit.errors import ConfigError

TRANSCRIPT_FORMAT = "%(message)s"


def _rotating(path: Path, cfg: LogConfig, fmt: str) -> logging.Handler:
    handler = logging.handlers.RotatingFileHandler(
        path, maxBytes=cfg.max_bytes, backupCount=cfg.backups, encoding="utf-8"
    )
    handler.setFormatter(logging.Formatter(fmt))
    return handler


class Transcript:
    """Every room message as one line: ISO time, room, sender, text."""

    def __init__(self, handler: logging.Handler) -> None:
        self._queue: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
        self._listener = logging.handlers.QueueListener(self._queue, handler)
        self._handler = handler
        self._listener.start()

    def write(self, m: Message) -> None:
        line = f"{m.sent_at.isoformat()} #{m.channel} <{m.sender}> {m.text}"
        record = logging.makeLogRecord({"msg": line, "levelno": logging.INFO})
        self._queue.put_nowait(record)

    def close(self) -> None:
        self._listener.stop()
        self._handler.close()


class Logs:
    """The open log files of one server; `close()` flushes and detaches them."""

    def __init__(self, cfg: LogConfig) -> None:
        try:
            cfg.dir.mkdir(parents=True, exist_ok=True)
            probe = cfg.dir / ".write-test"
            probe.write_text("")
            probe.unlink()
        except OSError as e:
            raise ConfigError(
                f"config key log.dir: {cfg.dir} is not writable: {e.strerror}"
            ) from None
        fmt = "%(asctime)s %(levelname)s %(name)s %(message)s"
        self._app_handler = _rotating(cfg.dir / "torbit.log", cfg, fmt)
        q: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
        self._queue_handler = logging.handlers.QueueHandler(q)
        self._console = logging.StreamHandler()
        self._console.setFormatter(logging.Formatter(fmt))
        self._listener = logging.handlers.QueueListener(q, self._app_handler, self._console)
        self._listener.start()
        root = logging.getLogger("torbit")
        root.addHandler(self._queue_handler)
        root.setLevel(cfg.level)
        self.transcript = Transcript(_rotating(cfg.dir / "transcript.log", cfg, TRANSCRIPT_FORMAT))

    def close(self) -> None:
        self.transcript.close()
        logging.getLogger("torbit").removeHandler(self._queue_handler)
        self._listener.stop()
        self._app_handler.close()
