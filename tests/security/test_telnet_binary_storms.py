"""The telnet door asks for BINARY (IAC DO BINARY) with the first password prompt and agrees
to the client's WILL BINARY from then on (protocol/telnet.py). A hostile client answers
it in storms: WILL/WONT BINARY and DO/DONT ECHO flipping thousands of times, commands cut
a byte at a time, a subnegotiation left open over what looks like lines, 8-bit text before
and after BINARY is on. What must hold, on a real socket: the server never answers more
than it is asked (no reply loop, RFC 1143), nothing inside a subnegotiation becomes a
line, and the lines typed around all that arrive whole, in order, 8-bit ones included."""

from __future__ import annotations

import re

from tests.conftest import ServerFactory
from tests.helpers.http import PASSWORD
from tests.security.conftest import telnet_from

IAC, SB, SE, WILL, WONT, DO, DONT = 255, 250, 240, 251, 252, 253, 254
BINARY, ECHO, NAWS = 0, 1, 31
NEGOTIATION = re.compile(rb"\xff[\xfb-\xfe].", re.S)


def cmd(verb: int, option: int) -> bytes:
    return bytes((IAC, verb, option))


async def test_negotiation_storms_around_binary_get_no_more_answers_than_asked(
    make_server: ServerFactory,
) -> None:
    app = await make_server()
    t = await telnet_from(app)
    await t.read_until("Name: ")
    t.send("storm")
    await t.read_until("Choose a password: ")
    assert cmd(DO, BINARY) in t.raw  # asked with the first password prompt
    flips = (cmd(WILL, BINARY) + cmd(WONT, BINARY) + cmd(DO, ECHO) + cmd(DONT, ECHO)) * 500
    repeats = (cmd(WILL, BINARY) + cmd(DO, ECHO)) * 1000  # BINARY on, echo off: said again
    storm = flips + repeats
    asked = len(NEGOTIATION.findall(flips)) + 2  # a repeat of a state is not answered
    before = len(NEGOTIATION.findall(bytes(t.raw)))
    for i in range(0, len(storm), 7):  # cut everywhere: a command split across reads
        t.send_raw(storm[i : i + 7])
        await t.writer.drain()
    t.send(PASSWORD)
    await t.read_until("Repeat the password: ")
    t.send(PASSWORD)
    await t.expect(r"^\* you are in #lobby")
    answered = len(NEGOTIATION.findall(bytes(t.raw))) - before
    assert answered <= asked, (answered, asked)
    # 8-bit text once BINARY is on, an open subnegotiation over a 'line', bytes cut apart
    sub = bytes((IAC, SB, NAWS)) + b"/quit\r\nhidden\r\n" + bytes((IAC, IAC)) + b"x"
    text = "Bună ✓ ăîș".encode()
    t.send_raw(sub)
    await t.writer.drain()
    t.send_raw(bytes((IAC, SE)) + text[:3])  # the subnegotiation ends; a letter cut in two
    await t.writer.drain()
    t.send_raw(text[3:] + b"\r\n" + b"//shrug\r\n")
    await t.writer.drain()
    await t.expect("<storm> Bună ✓ ăîș$")
    await t.expect("<storm> /shrug$")
    t.send("/help")  # a line after all of it: the session still answers, nothing else came
    await t.expect("//text sends /text$")
    assert not any("hidden" in line or "bye" in line for line in t.seen), t.seen
    await t.close()


async def test_eight_bit_text_before_binary_is_agreed_keeps_the_session(
    make_server: ServerFactory,
) -> None:
    """Before any password prompt (nothing asked yet): a client's WILL BINARY is refused
    once, however often it comes, and an 8-bit name is refused for its letters, not read
    as control keys."""
    app = await make_server()
    t = await telnet_from(app)
    await t.read_until("Name: ")
    before = len(NEGOTIATION.findall(bytes(t.raw)))
    t.send_raw(cmd(WILL, BINARY) * 300 + "zoë\r\n".encode())
    await t.expect("letters a-z or A-Z")
    await t.read_until("Name: ")
    assert len(NEGOTIATION.findall(bytes(t.raw))) - before == 1  # one DONT BINARY
    assert cmd(DONT, BINARY) in t.raw
    await t.close()
