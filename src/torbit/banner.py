"""What a person reads when the server starts: where it listens, as addresses they can open,
and which data it uses."""

from __future__ import annotations

import socket
from pathlib import Path


def url_host(host: str) -> str:
    """A bound host as it goes into a URL: the machine's name for the wildcard addresses,
    brackets around IPv6."""
    if host in ("", "0.0.0.0", "::"):
        return socket.gethostname()
    return f"[{host}]" if ":" in host else host


def banner_lines(
    *,
    version: str,
    database: str,
    message_log: str,
    config: Path | None,
    telnet: tuple[str, int] | None,
    telnet_tls: tuple[str, int] | None,
    http: tuple[str, int, bool] | None,
    irc: tuple[str, int] | None = None,
    irc_tls: tuple[str, int] | None = None,
    log_dir: str | None = None,
) -> list[str]:
    """One line of what torbit runs on, one of where it writes its logs and how to stop it (a
    newcomer asked both), then one line per address; TLS ones only when on."""
    source = f"config {config}" if config is not None else "built-in defaults (no torbit.toml)"
    lines = [f"torbit {version} serving: database {database}, message log {message_log}, {source}"]
    if log_dir is not None:
        logs = log_dir.rstrip("/")
        where = f"{logs}/torbit.log and transcript.log (every room message)"
        lines.append(f"  logs      {where}; Ctrl-C stops it")
    if telnet is not None:
        lines.append(f"  telnet    telnet://{url_host(telnet[0])}:{telnet[1]}")
    if telnet_tls is not None:
        lines.append(f"  telnet    telnets://{url_host(telnet_tls[0])}:{telnet_tls[1]} (TLS)")
    if http is not None:
        host, port, tls = http
        base = f"{'https' if tls else 'http'}://{url_host(host)}:{port}"
        lines.append(f"  web page  {base}/")
        lines.append(f"  API docs  {base}/docs")
        lines.append(f"  health    {base}/readyz")
    if irc is not None:
        lines.append(f"  IRC       irc://{url_host(irc[0])}:{irc[1]}")
    if irc_tls is not None:
        lines.append(f"  IRC       ircs://{url_host(irc_tls[0])}:{irc_tls[1]} (TLS)")
    return lines
