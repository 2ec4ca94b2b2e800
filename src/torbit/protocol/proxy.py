"""The PROXY protocol header (HAProxy's, versions 1 and 2), read sans-IO.

A load balancer in TCP mode connects to us itself, so the socket's peer is the balancer. With
`send-proxy` (v1, one text line) or `send-proxy-v2` (binary) it first sends one header naming
the client's address. This reader takes bytes as they arrive and answers once the header is
complete, with whatever followed it (the client's first bytes) kept apart.

Reading is bounded: a v1 line is at most 107 bytes, a v2 header at most 16 + MAX_V2_PAYLOAD;
anything else is refused as soon as a byte shows it cannot be a header, so a client that is
not a proxy never makes us buffer more than a few bytes. Timing out is the caller's job.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass
from typing import Final

__all__ = [
    "MAX_V1_BYTES",
    "MAX_V2_PAYLOAD",
    "V2_SIGNATURE",
    "ProxyHeader",
    "ProxyHeaderError",
    "ProxyHeaderReader",
    "encode_v1",
    "encode_v2",
]

V1_PREFIX: Final = b"PROXY "
V2_SIGNATURE: Final = b"\r\n\r\n\x00\r\nQUIT\n"
MAX_V1_BYTES: Final = 107  # the spec's worst case, CR LF included
MAX_V2_PAYLOAD: Final = 1024  # addresses (36 bytes at most) plus any TLVs a balancer adds

_V1_PROTOCOLS: Final = {"TCP4": 4, "TCP6": 6}
_V2_FAMILIES: Final = {0x11: (4, 12), 0x21: (6, 36)}  # TCP over IPv4 / IPv6: version, bytes


class ProxyHeaderError(ValueError):
    """The bytes are not a valid PROXY header (or not one at all). The connection must go."""


@dataclass(frozen=True, slots=True)
class ProxyHeader:
    """A complete header. `source` is the client's (address, port), or None when the proxy
    speaks for itself (v2 LOCAL, v1 UNKNOWN: health checks): then the socket's peer stands."""

    version: int
    source: tuple[str, int] | None
    destination: tuple[str, int] | None
    length: int  # bytes the header took


class ProxyHeaderReader:
    """Feed bytes until `feed` returns a ProxyHeader; `rest` then holds what came after it.
    Raises ProxyHeaderError as soon as the input cannot be a header."""

    __slots__ = ("_buf", "header", "rest")

    def __init__(self) -> None:
        self._buf = bytearray()
        self.header: ProxyHeader | None = None
        self.rest = b""

    def feed(self, data: bytes) -> ProxyHeader | None:
        if self.header is not None:
            raise RuntimeError("the header was already read")
        self._buf += data
        buf = self._buf
        if buf[:1] == b"P":
            return self._v1()
        if buf[:1] == b"\r":
            return self._v2()
        if buf:
            raise ProxyHeaderError("no PROXY protocol header")
        return None

    def _done(self, header: ProxyHeader) -> ProxyHeader:
        self.rest = bytes(self._buf[header.length :])
        self._buf = bytearray()
        self.header = header
        return header

    def _v1(self) -> ProxyHeader | None:
        buf = self._buf
        head = bytes(buf[: len(V1_PREFIX)])
        if not V1_PREFIX.startswith(head):
            raise ProxyHeaderError("no PROXY protocol header")
        end = buf.find(b"\r\n", 0, MAX_V1_BYTES)
        if end < 0:
            if len(buf) >= MAX_V1_BYTES:
                raise ProxyHeaderError(f"PROXY v1 line longer than {MAX_V1_BYTES} bytes")
            return None
        source, destination = _parse_v1(bytes(buf[len(V1_PREFIX) : end]))
        return self._done(ProxyHeader(1, source, destination, end + 2))

    def _v2(self) -> ProxyHeader | None:
        buf = self._buf
        if len(buf) < 16:
            if not V2_SIGNATURE.startswith(bytes(buf[:12])):
                raise ProxyHeaderError("no PROXY protocol header")
            return None
        if bytes(buf[:12]) != V2_SIGNATURE:
            raise ProxyHeaderError("no PROXY protocol header")
        ver_cmd, family, length = buf[12], buf[13], struct.unpack_from("!H", buf, 14)[0]
        if ver_cmd >> 4 != 2:
            raise ProxyHeaderError(f"PROXY v2 header with version {ver_cmd >> 4}")
        command = ver_cmd & 0x0F
        if command > 1:
            raise ProxyHeaderError(f"PROXY v2 header with unknown command {command}")
        if length > MAX_V2_PAYLOAD:
            raise ProxyHeaderError(f"PROXY v2 header of {length} bytes (at most {MAX_V2_PAYLOAD})")
        if len(buf) < 16 + length:
            return None
        payload = bytes(buf[16 : 16 + length])
        if command == 0:  # LOCAL: the proxy's own connection (a health check)
            return self._done(ProxyHeader(2, None, None, 16 + length))
        if family not in _V2_FAMILIES:
            if family == 0x00:  # UNSPEC: addresses unknown, use the peer's
                return self._done(ProxyHeader(2, None, None, 16 + length))
            raise ProxyHeaderError(f"PROXY v2 header for unsupported family 0x{family:02x}")
        _, size = _V2_FAMILIES[family]
        if length < size:
            raise ProxyHeaderError(f"PROXY v2 addresses need {size} bytes, header has {length}")
        half = (size - 4) // 2
        src = ipaddress.ip_address(payload[:half])
        dst = ipaddress.ip_address(payload[half : 2 * half])
        sport, dport = struct.unpack_from("!HH", payload, 2 * half)
        return self._done(ProxyHeader(2, (str(src), sport), (str(dst), dport), 16 + length))


def _port(text: str) -> int:
    if (
        not (text.isdigit() and text.isascii())
        or len(text) > 5
        or (len(text) > 1 and text[0] == "0")
    ):
        raise ProxyHeaderError(f"PROXY v1 header with bad port {text!r}")
    port = int(text)
    if port > 65535:
        raise ProxyHeaderError(f"PROXY v1 header with bad port {text!r}")
    return port


def _address(text: str, version: int) -> str:
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        raise ProxyHeaderError(f"PROXY v1 header with bad address {text!r}") from None
    if addr.version != version:
        raise ProxyHeaderError(f"PROXY v1 header: {text!r} is not IPv{version}")
    return str(addr)


def _parse_v1(line: bytes) -> tuple[tuple[str, int] | None, tuple[str, int] | None]:
    try:
        text = line.decode("ascii")
    except UnicodeDecodeError:
        raise ProxyHeaderError("PROXY v1 header is not ASCII") from None
    fields = text.split(" ")
    if fields[0] == "UNKNOWN":  # the proxy does not know; whatever follows is ignored
        return None, None
    if fields[0] not in _V1_PROTOCOLS:
        raise ProxyHeaderError(f"PROXY v1 header with unknown protocol {fields[0]!r}")
    if len(fields) != 5:
        raise ProxyHeaderError("PROXY v1 header needs protocol, 2 addresses and 2 ports")
    version = _V1_PROTOCOLS[fields[0]]
    source = (_address(fields[1], version), _port(fields[3]))
    destination = (_address(fields[2], version), _port(fields[4]))
    return source, destination


def encode_v1(source: tuple[str, int], destination: tuple[str, int]) -> bytes:
    """The v1 line a proxy would send (for tests and tools)."""
    proto = "TCP6" if ipaddress.ip_address(source[0]).version == 6 else "TCP4"
    return f"PROXY {proto} {source[0]} {destination[0]} {source[1]} {destination[1]}\r\n".encode()


def encode_v2(
    source: tuple[str, int] | None, destination: tuple[str, int] | None = None, tlvs: bytes = b""
) -> bytes:
    """The v2 header a proxy would send; `source` None makes a LOCAL header."""
    if source is None:
        return V2_SIGNATURE + struct.pack("!BBH", 0x20, 0x00, len(tlvs)) + tlvs
    destination = destination or (("::" if ":" in source[0] else "0.0.0.0"), 0)
    src, dst = ipaddress.ip_address(source[0]), ipaddress.ip_address(destination[0])
    family = 0x21 if src.version == 6 else 0x11
    payload = src.packed + dst.packed + struct.pack("!HH", source[1], destination[1]) + tlvs
    return V2_SIGNATURE + struct.pack("!BBH", 0x21, family, len(payload)) + payload
