"""Listening sockets and TLS contexts for the doors, made before anything else starts, so a
port in use or a bad certificate stops start-up with one line naming its config key."""

from __future__ import annotations

import errno
import resource
import socket
import ssl

from torbit.errors import ConfigError

# Connections the kernel completes and queues for a door before it accepts them. asyncio's
# and uvloop's `create_server(sock=...)` listen again with their own default (100), which
# was every line door's: a reconnect storm, or a loop busy for a moment, overflowed it, and
# each dropped SYN cost its client a second (then 3, 7...) before it tried again (813 in a
# 20 s connection storm, stop 50). Linux caps it at net.core.somaxconn (4096 by default).
LISTEN_BACKLOG = 4096


def bind_all(wanted: dict[str, tuple[str, int] | None]) -> dict[str, socket.socket]:
    """Bind each config key's (host, port), None skipped, or none at all: every port that
    cannot be had is named in one line, so a newcomer whose three default ports are taken
    learns it at once rather than in three failed starts."""
    bound: dict[str, socket.socket] = {}
    failed: list[tuple[str, str, bool]] = []  # (why, key, whether another port would do)
    for key, at in wanted.items():
        if at is None:
            continue
        host, port = at
        try:
            bound[key] = _listening(host, port)
        except OSError as e:
            why = f"config key {key}: cannot listen on {host}:{port}: {e.strerror}"
            failed.append((why, key, e.errno in (errno.EADDRINUSE, errno.EACCES)))
    if not failed:
        return bound
    for sock in bound.values():
        sock.close()
    moves = [key for _, key, movable in failed if movable]
    hint = ""
    if moves:
        variables = " ".join(f"TORBIT_{k.replace('.', '__').upper()}=PORT" for k in moves)
        places = ", ".join(f"{k.split('.')[1]} in [{k.split('.')[0]}]" for k in moves)
        hint = f"; pick another port: {variables}, or {places} of the config file"
    raise ConfigError("; ".join(why for why, _, _ in failed) + hint)


def _listening(host: str, port: int) -> socket.socket:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, kind, proto, _, addr = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
        sock.listen(LISTEN_BACKLOG)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def tls_context(cert: str, key: str, section: str) -> ssl.SSLContext:
    """A server context with TLS 1.2 as the floor; a bad file names its config key."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as e:
        raise ConfigError(
            f"config keys {section}.tls_cert/{section}.tls_key: cannot load {cert}, {key}: {e}"
        ) from None
    return ctx


def raise_open_file_limit() -> None:
    """Thousands of clients need thousands of descriptors: take what the hard limit allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
