"""HAProxy itself (Debian's `haproxy`) in front of torbit nodes, as the docs deploy it: telnet
through `send-proxy-v2`, HTTP and WebSocket with X-Forwarded-For, servers checked on /readyz
so a draining node (503) gets no newcomers. Started on free ports with a generated config."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

from tests.scale.processes import NodeProcess
from torbit.testing.ports import free_port

CONFIG = """\
global
    maxconn 2000
defaults
    timeout connect 2s
    timeout client 1h
    timeout server 1h
    timeout tunnel 1h
    timeout check 2s
    retries 3
    option redispatch 1  # a refused connection (a node that stopped accepting) goes elsewhere
frontend telnet
    mode tcp
    bind 127.0.0.1:{telnet}
    default_backend telnet
backend telnet
    mode tcp
    balance {balance}
    option httpchk GET /readyz
    http-check expect status 200
{telnet_servers}
frontend http
    mode http
    bind 127.0.0.1:{http}
    option forwardfor
    default_backend http
backend http
    mode http
    balance {balance}
    option httpchk GET /readyz
    http-check expect status 200
{http_servers}
"""
# out after two failed checks (a draining node's 503, or a /readyz slowed by a busy machine)
CHECK = "check inter 200ms fall 2 rise 2"


class HAProxy:
    """`telnet_port` and `http_port` are the balancer's: clients connect there."""

    def __init__(self, workdir: Path, nodes: list[NodeProcess], balance: str = "leastconn"):
        binary = shutil.which("haproxy")
        assert binary, "HAProxy is needed: apt-get install haproxy (run-tests does)"
        self.telnet_port, self.http_port = free_port(), free_port()
        telnet = "\n".join(
            f"    server n{i} 127.0.0.1:{n.telnet_port} send-proxy-v2 {CHECK} port {n.http_port}"
            for i, n in enumerate(nodes)
        )
        http = "\n".join(
            f"    server n{i} 127.0.0.1:{n.http_port} {CHECK}" for i, n in enumerate(nodes)
        )
        workdir.mkdir(parents=True, exist_ok=True)
        config = workdir / "haproxy.cfg"
        config.write_text(
            CONFIG.format(
                telnet=self.telnet_port,
                http=self.http_port,
                balance=balance,
                telnet_servers=telnet,
                http_servers=http,
            )
        )
        self.log = workdir / "haproxy.log"
        with self.log.open("ab") as out:
            self._proc = subprocess.Popen(
                [binary, "-db", "-f", str(config)], stdin=subprocess.DEVNULL, stdout=out, stderr=out
            )
        deadline = time.monotonic() + 10
        while True:
            assert self._proc.poll() is None, self.log.read_text()
            try:
                socket.create_connection(("127.0.0.1", self.http_port), 1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, self.log.read_text()
                time.sleep(0.05)

    def is_up(self, index: int) -> bool:
        """Server n<index> is UP in both backends, as far as HAProxy has said: it starts with
        every server up and says each change of a server's state on stderr."""
        log = self.log.read_text(errors="replace")
        return all(
            log.count(f"Server {backend}/n{index} is UP")
            >= log.count(f"Server {backend}/n{index} is DOWN")
            for backend in ("telnet", "http")
        )

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
