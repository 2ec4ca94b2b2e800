"""The PROXY protocol header reader: v1 and v2, whole or a byte at a time, and refusals."""

from __future__ import annotations

import contextlib
import ipaddress
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from torbit.protocol.proxy import (
    MAX_V1_BYTES,
    MAX_V2_PAYLOAD,
    V2_SIGNATURE,
    ProxyHeader,
    ProxyHeaderError,
    ProxyHeaderReader,
    encode_v1,
    encode_v2,
)


def read(data: bytes, chunk: int = 0) -> tuple[ProxyHeader, bytes]:
    reader = ProxyHeaderReader()
    pieces = [data[i : i + chunk] for i in range(0, len(data), chunk)] if chunk else [data]
    for i, piece in enumerate(pieces):
        header = reader.feed(piece)
        if header is not None:
            consumed = sum(len(p) for p in pieces[: i + 1])
            rest = reader.rest + b"".join(pieces[i + 1 :])
            assert consumed >= header.length
            return header, rest
    raise AssertionError("header incomplete")


def test_v1_tcp4_and_what_follows() -> None:
    header, rest = read(b"PROXY TCP4 192.0.2.7 10.0.0.1 56324 5000\r\nalice\r\n")
    assert header == ProxyHeader(1, ("192.0.2.7", 56324), ("10.0.0.1", 5000), 42)
    assert rest == b"alice\r\n"


def test_v1_tcp6_is_normalised() -> None:
    header, _ = read(b"PROXY TCP6 2001:DB8::0001 ::1 1 65535\r\n")
    assert header.source == ("2001:db8::1", 1)


def test_v1_unknown_leaves_the_address_to_the_socket() -> None:
    header, rest = read(b"PROXY UNKNOWN whatever\r\nx")
    assert header.source is None and rest == b"x"


def test_v2_tcp4_tcp6_local_and_tlvs() -> None:
    header, rest = read(encode_v2(("198.51.100.9", 4000), ("10.1.1.1", 6667)) + b"NICK a\r\n")
    assert header.version == 2 and header.source == ("198.51.100.9", 4000)
    assert header.destination == ("10.1.1.1", 6667) and rest == b"NICK a\r\n"
    header, _ = read(encode_v2(("2001:db8::5", 9), ("::1", 1), tlvs=b"\x04\x00\x01x"))
    assert header.source == ("2001:db8::5", 9) and header.length == 16 + 36 + 4
    header, rest = read(encode_v2(None) + b"hi")
    assert header.source is None and rest == b"hi"


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"hello\r\n", "no PROXY protocol header"),
        (b"PROXZ TCP4", "no PROXY protocol header"),
        (b"PROXY TCP5 1.2.3.4 1.2.3.4 1 2\r\n", "unknown protocol"),
        (b"PROXY TCP4 1.2.3.4 1.2.3.4 1\r\n", "needs protocol"),
        (b"PROXY TCP4 1.2.3.4  1.2.3.4 1 2\r\n", "needs protocol"),
        (b"PROXY TCP4 ::1 1.2.3.4 1 2\r\n", "is not IPv4"),
        (b"PROXY TCP4 1.2.3.999 1.2.3.4 1 2\r\n", "bad address"),
        (b"PROXY TCP4 1.2.3.4 1.2.3.4 65536 2\r\n", "bad port"),
        (b"PROXY TCP4 1.2.3.4 1.2.3.4 01 2\r\n", "bad port"),
        (b"PROXY TCP4 1.2.3.4 1.2.3.4 +1 2\r\n", "bad port"),
        (b"PROXY TCP4 1.2.3.4 1.2.3.4 \xd9\xa1 2\r\n", "not ASCII"),
        (b"PROXY " + b"x" * 200, f"longer than {MAX_V1_BYTES}"),
        (V2_SIGNATURE[:5] + b"x", "no PROXY protocol header"),
        (V2_SIGNATURE + b"\x11\x11\x00\x0c", "version 1"),
        (V2_SIGNATURE + b"\x22\x11\x00\x0c", "unknown command"),
        (V2_SIGNATURE + b"\x21\x11\x00\x04abcd", "need 12 bytes"),
        (V2_SIGNATURE + b"\x21\x31\x00\x04abcd", "unsupported family"),
        (V2_SIGNATURE + b"\x21\x11" + struct.pack("!H", MAX_V2_PAYLOAD + 1), "at most"),
    ],
)
def test_refusals(data: bytes, says: str) -> None:
    with pytest.raises(ProxyHeaderError, match=says):
        read(data)


def test_v1_is_refused_at_its_limit_without_waiting_for_more() -> None:
    reader = ProxyHeaderReader()
    assert reader.feed(b"PROXY " + b"1" * (MAX_V1_BYTES - 7)) is None  # one byte short
    with pytest.raises(ProxyHeaderError):
        reader.feed(b"1")


def test_a_v2_length_is_waited_for_not_trusted() -> None:
    reader = ProxyHeaderReader()
    assert reader.feed(V2_SIGNATURE + b"\x21\x11\x00\x0c" + b"\x01" * 11) is None
    header = reader.feed(b"\x02trailing")
    assert header is not None and header.source == ("1.1.1.1", 257) and reader.rest == b"trailing"


addresses4 = st.ip_addresses(v=4).map(str)
addresses6 = st.ip_addresses(v=6).map(str)
ports = st.integers(0, 65535)


@given(
    st.one_of(st.tuples(addresses4, addresses4), st.tuples(addresses6, addresses6)),
    ports,
    ports,
    st.binary(max_size=64),
    st.integers(1, 20),
    st.booleans(),
)
def test_round_trip_in_any_pieces(
    pair: tuple[str, str], sport: int, dport: int, after: bytes, chunk: int, v2: bool
) -> None:
    src, dst = (str(ipaddress.ip_address(a)) for a in pair)
    encode = encode_v2 if v2 else encode_v1
    header, rest = read(encode((src, sport), (dst, dport)) + after, chunk)
    assert header.source == (src, sport) and header.destination == (dst, dport)
    assert rest == after


@given(st.binary(max_size=300), st.integers(1, 50))
def test_any_bytes_end_in_a_header_an_error_or_a_bounded_wait(data: bytes, chunk: int) -> None:
    reader = ProxyHeaderReader()
    try:
        for i in range(0, len(data), chunk):
            if reader.feed(data[i : i + chunk]) is not None:
                assert reader.header is not None and reader.header.length <= len(data)
                return
    except ProxyHeaderError:
        return
    # still waiting: only a prefix of a header can keep it waiting, and never for long
    assert len(data) < MAX_V1_BYTES or data.startswith(V2_SIGNATURE)
    assert len(data) < 16 + MAX_V2_PAYLOAD


@given(st.binary(min_size=1, max_size=40))
def test_bytes_after_a_v2_signature_never_crash(tail: bytes) -> None:
    reader = ProxyHeaderReader()
    with contextlib.suppress(ProxyHeaderError):
        reader.feed(V2_SIGNATURE + tail)
