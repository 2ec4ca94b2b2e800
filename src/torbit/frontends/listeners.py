"""Listening sockets and TLS contexts for the doors, made before anything else starts, so a
port in use or a bad certificate stops start-up with one line naming its config key."""

from __future__ import annotations

import errno
import resource
import socket
import ssl

from torbit.errors import ConfigError


def bind(host: str, port: int, key: str) -> socket.socket:
    """Bind a listening socket now, so a port in use stops start-up with a clear line naming
    the port's config key (`telnet.tls_port`) and the variable that sets another one."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, addr = infos[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
        sock.listen(4096)
        sock.setblocking(False)
    except OSError as e:
        why = f"config key {key}: cannot listen on {host}:{port}: {e.strerror}"
        if e.errno in (errno.EADDRINUSE, errno.EACCES):
            section, name = key.split(".")
            why += (
                f"; pick another port: TORBIT_{section.upper()}__{name.upper()}=PORT, or"
                f" {name} in [{section}] of the config file"
            )
        raise ConfigError(why) from None
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
