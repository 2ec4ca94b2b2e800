"""What TLS handshakes cost a `torbit serve` (uvloop): `--count` handshakes, one after the
other, to each of the TLS telnet, IRC TLS and HTTPS ports, each connection closed once its
handshake is done (an HTTPS one after `GET /healthz`). Counted: the server's CPU seconds over
them and each handshake's time as the client sees it (median, p90). `--src DIR` runs another
tree's torbit, for before and after (stop 55: the first-bytes check that answers plain text on
a TLS port, frontends/handshake.py).

    flock /tmp/bench.lock .venv/bin/python bench/tls_handshakes.py --repeat 3
    flock /tmp/bench.lock .venv/bin/python bench/tls_handshakes.py --src ../other/src
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import ssl
import statistics
import tempfile
import time
from pathlib import Path

import trustme

from procstat import cpu_seconds, free_port
from servers import HOST, add_src_option, start_torbit, torbit_from


def certificates(where: Path) -> tuple[ssl.SSLContext, dict[str, str]]:
    """A client context trusting a fresh test CA, and the server's settings for its cert."""
    ca = trustme.CA()
    cert = ca.issue_cert(HOST, "localhost")
    cert.private_key_and_cert_chain_pem.write_to_path(where / "cert.pem")
    cert.private_key_pem.write_to_path(where / "key.pem")
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    env = {}
    for section in ("TELNET", "IRC", "HTTP"):
        env[f"TORBIT_{section}__TLS_CERT"] = str(where / "cert.pem")
        env[f"TORBIT_{section}__TLS_KEY"] = str(where / "key.pem")
    return ctx, env


async def handshakes(port: int, ctx: ssl.SSLContext, count: int, http: bool) -> list[float]:
    times = []
    for _ in range(count):
        t = time.perf_counter()
        reader, writer = await asyncio.open_connection(
            HOST, port, ssl=ctx, server_hostname="localhost"
        )
        times.append(time.perf_counter() - t)
        if http:
            writer.write(b"GET /healthz HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
            await reader.read()
        writer.close()
        with contextlib.suppress(ssl.SSLError, ConnectionError):  # a greeting after our close
            await writer.wait_closed()
    return times


def main() -> None:
    ap = argparse.ArgumentParser()
    add_src_option(ap)
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    where = Path(tempfile.mkdtemp(prefix="torbit-tls-"))
    ctx, env = certificates(where)
    command = torbit_from(args.src, env)
    for i in range(args.repeat):
        load = os.getloadavg()[0]
        ports = {"telnet-tls": free_port(), "irc-tls": free_port()}
        run_env = {
            **env,
            "TORBIT_TELNET__TLS_PORT": str(ports["telnet-tls"]),
            "TORBIT_IRC__TLS_PORT": str(ports["irc-tls"]),
        }
        server = start_torbit(command, env=run_env, doors={"irc": "IRC", "http": "HTTP"})
        ports["https"] = server.ports["http"]
        results = []
        try:
            for door, port in ports.items():
                before = cpu_seconds(server.proc.pid)
                times = asyncio.run(handshakes(port, ctx, args.count, door == "https"))
                cpu = cpu_seconds(server.proc.pid) - before
                times.sort()
                results.append(
                    f"{door} cpu {1000 * cpu / args.count:.2f} ms/conn"
                    f" median {1000 * statistics.median(times):.2f} ms"
                    f" p90 {1000 * times[int(0.9 * len(times))]:.2f} ms"
                )
        finally:
            server.stop()
            server.cleanup()
        print(f"run {i + 1} load {load:.2f}  " + "  ".join(results), flush=True)


if __name__ == "__main__":
    main()
