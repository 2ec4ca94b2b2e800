"""TelnetConnection: IAC stripping, option negotiation (RFC 1143), commands and output."""

from __future__ import annotations

import ast
import tracemalloc
from pathlib import Path

import pytest

import torbit.protocol.telnet as telnet_module
from torbit.protocol.telnet import (
    AYT,
    AYT_REPLY,
    BRK,
    DM,
    DO,
    DONT,
    EC,
    ECHO,
    EL,
    GA,
    IAC,
    IP,
    NOP,
    SB,
    SE,
    SGA,
    WILL,
    WONT,
    Event,
    Interrupt,
    LineReceived,
    LineTooLong,
    TelnetConnection,
)

NAWS = 31
TTYPE = 24
LINEMODE = 34


def cmd(*codes: int) -> bytes:
    return bytes((IAC, *codes))


def lines(*texts: str, lossy: bool = False) -> list[Event]:
    return [LineReceived(t, lossy) for t in texts]


def receive(conn: TelnetConnection, data: bytes) -> tuple[list[Event], bytes]:
    events = conn.receive_data(data)
    return events, conn.data_to_send()


# -- text --------------------------------------------------------------------------------------


def test_plain_lines() -> None:
    conn = TelnetConnection()
    assert conn.receive_data(b"hello\r\nworld\r\n") == lines("hello", "world")
    assert conn.data_to_send() == b""


def test_utf8_is_decoded_and_invalid_bytes_replaced() -> None:
    conn = TelnetConnection()
    assert conn.receive_data("café 🎉\n".encode()) == lines("café 🎉")
    assert conn.receive_data(b"bad \xc3\x28 byte\n") == lines("bad \ufffd( byte", lossy=True)


def test_utf8_split_across_reads() -> None:
    conn = TelnetConnection()
    data = "日本\n".encode()
    assert conn.receive_data(data[:2]) == []
    assert conn.receive_data(data[2:]) == lines("日本")


def test_c1_controls_are_removed_after_decoding() -> None:
    conn = TelnetConnection()
    # U+009B is CSI for terminals that honour C1 controls; U+0085 is NEL.
    assert conn.receive_data("a\u009b2Jb\u0085c\n".encode()) == lines("a2Jbc", lossy=True)


@pytest.mark.parametrize(
    ("data", "text"),
    [
        ("p\u00e4ss".encode("latin-1"), "p\ufffdss"),  # not UTF-8: a Latin-1 terminal's
        (b"abc\x1bdef\x07g", "abcdefg"),
        ("a\u0085b".encode(), "ab"),
    ],
)
def test_a_line_that_lost_bytes_is_lossy(data: bytes, text: str) -> None:
    """What a password must not be made of (frontends/telnet/login.py); the next line is
    whole again."""
    conn = TelnetConnection()
    assert conn.receive_data(data + b"\r\nok\r\n") == [*lines(text, lossy=True), *lines("ok")]


def test_a_replacement_character_sent_as_utf8_is_not_lossy() -> None:
    conn = TelnetConnection()
    assert conn.receive_data("\ufffd\tx\n".encode()) == lines("\ufffd\tx")


def test_escaped_iac_is_a_data_byte_and_decodes_as_replacement() -> None:
    conn = TelnetConnection()
    assert receive(conn, b"a" + cmd(IAC) + b"b\n") == (lines("a\ufffdb", lossy=True), b"")


def test_iac_is_stripped_everywhere_in_a_line() -> None:
    conn = TelnetConnection()
    data = cmd(NOP) + b"he" + cmd(GA) + b"l" + cmd(DM) + b"lo" + cmd(NOP) + b"\r" + cmd(NOP) + b"\n"
    assert conn.receive_data(data) == lines("hello")


def test_cr_then_command_then_lf_is_still_one_line_end() -> None:
    conn = TelnetConnection()
    assert conn.receive_data(b"a\r" + cmd(NOP) + b"\nb\n") == lines("a", "b")


def test_fast_path_and_command_path_agree() -> None:
    text = b"one\r\ntwo\r\nthree\r\nfour\r\nfi"
    plain = TelnetConnection()
    with_nop = TelnetConnection()
    assert plain.receive_data(text) == with_nop.receive_data(cmd(NOP) + text)
    assert plain.receive_data(b"ve\n") == with_nop.receive_data(b"ve\n") == lines("five")


def test_line_too_long_event_carries_the_limit() -> None:
    conn = TelnetConnection(max_line_bytes=8)
    assert conn.max_line_bytes == 8
    events = conn.receive_data(b"123456789\r\nok\r\n")
    assert events == [LineTooLong(8), LineReceived("ok")]


def test_escaped_iac_counts_toward_the_limit() -> None:
    conn = TelnetConnection(max_line_bytes=3)
    assert conn.receive_data(cmd(IAC) * 4 + b"\n") == [LineTooLong(3)]


# -- commands ----------------------------------------------------------------------------------


@pytest.mark.parametrize("code", [IP, BRK])
def test_ip_and_brk_interrupt(code: int) -> None:
    conn = TelnetConnection()
    assert conn.receive_data(b"typing" + cmd(code)) == [Interrupt()]
    assert conn.data_to_send() == b""


def test_ctrl_c_on_an_empty_line_interrupts() -> None:
    conn = TelnetConnection()
    assert conn.receive_data(b"\x03") == [Interrupt()]
    assert conn.receive_data(b"\x04") == [Interrupt()]
    assert conn.receive_data(b"a\x03b\n") == lines("ab", lossy=True)  # a Ctrl-C dropped


def test_events_keep_their_order() -> None:
    conn = TelnetConnection(max_line_bytes=4)
    data = b"one\n" + cmd(IP) + b"toolong\ntwo\n\x03three\n"
    assert conn.receive_data(data) == [
        LineReceived("one"),
        Interrupt(),
        LineTooLong(4),
        LineReceived("two"),
        Interrupt(),
        LineTooLong(4),
    ]


def test_erase_character_and_erase_line() -> None:
    conn = TelnetConnection()
    assert conn.receive_data(b"ab\xe2\x82\xac" + cmd(EC) + b"c\n") == lines("abc")
    assert conn.receive_data(b"junk" + cmd(EL) + b"clean\n") == lines("clean")


def test_ayt_is_answered_once_per_batch_of_replies() -> None:
    conn = TelnetConnection()
    assert receive(conn, cmd(AYT)) == ([], AYT_REPLY)
    assert receive(conn, cmd(AYT) * 1000) == ([], AYT_REPLY)
    conn.receive_data(cmd(AYT))
    conn.receive_data(cmd(AYT))
    assert conn.data_to_send() == AYT_REPLY


@pytest.mark.parametrize("code", [NOP, GA, DM, 245, SE, 0, 65, 239])
def test_other_commands_are_ignored(code: int) -> None:
    conn = TelnetConnection()
    assert receive(conn, b"a" + cmd(code) + b"b\n") == (lines("ab"), b"")


# -- subnegotiation ----------------------------------------------------------------------------


def test_subnegotiation_is_consumed() -> None:
    conn = TelnetConnection()
    naws = cmd(SB, NAWS, 0, 80, 0, 24) + cmd(SE)
    assert receive(conn, b"a" + naws + b"b\n") == (lines("ab"), b"")


def test_subnegotiation_with_escaped_iac_and_line_ends_inside() -> None:
    conn = TelnetConnection()
    sb = cmd(SB, TTYPE, 0) + b"x\r\n" + cmd(IAC) + cmd(SE) + b"\x03y" + cmd(SE)
    # IAC IAC inside is data; the first IAC SE closes; the ^C after it is on an empty line;
    # the second IAC SE is a stray command and ignored.
    events = conn.receive_data(b"a\n" + sb + b"\n")
    assert events == [LineReceived("a"), Interrupt(), LineReceived("y")]


def test_escaped_iac_inside_a_subnegotiation_does_not_end_it() -> None:
    conn = TelnetConnection()
    sb = cmd(SB, TTYPE, 0) + cmd(IAC) + b"not text\n" + cmd(IAC, IAC) + b"\n" + cmd(SE)
    assert receive(conn, sb + b"text\n") == (lines("text"), b"")


def test_subnegotiation_option_byte_may_be_255() -> None:
    conn = TelnetConnection()
    assert receive(conn, cmd(SB, 255, 1, 2) + cmd(SE) + b"ok\n") == (lines("ok"), b"")


def test_long_subnegotiation_is_skipped_without_buffering() -> None:
    conn = TelnetConnection(max_line_bytes=100)
    assert conn.receive_data(cmd(SB, TTYPE) + b"x\n" * 500_000) == []
    assert conn.buffered == 0
    assert conn.receive_data(cmd(SE) + b"after\n") == lines("after")


def test_unterminated_subnegotiation_ends_at_the_next_command() -> None:
    conn = TelnetConnection()
    events, reply = receive(conn, cmd(SB, NAWS, 0, 80) + cmd(WILL, TTYPE) + b"hi\n")
    assert (events, reply) == (lines("hi"), cmd(DONT, TTYPE))
    assert conn.receive_data(cmd(SB, NAWS) + cmd(IP)) == [Interrupt()]
    assert conn.receive_data(cmd(SB, 1) + cmd(SB, 2) + cmd(SE) + b"ok\n") == lines("ok")


# -- negotiation -------------------------------------------------------------------------------


@pytest.mark.parametrize("option", [ECHO, SGA, NAWS, TTYPE, LINEMODE, 255])
def test_will_is_refused_once(option: int) -> None:
    conn = TelnetConnection()
    assert receive(conn, cmd(WILL, option)) == ([], cmd(DONT, option))
    assert receive(conn, cmd(WILL, option) * 1000) == ([], b"")


@pytest.mark.parametrize("option", [ECHO, SGA, NAWS, TTYPE, LINEMODE, 0, 255])
def test_do_is_refused_once(option: int) -> None:
    conn = TelnetConnection()
    assert receive(conn, cmd(DO, option)) == ([], cmd(WONT, option))
    assert receive(conn, cmd(DO, option) * 1000) == ([], b"")


BINARY = 0


def test_binary_is_asked_for_once_and_the_answer_not_acknowledged() -> None:
    """RFC 856: Debian's telnet masks what it sends to 7 bits until it agrees to BINARY."""
    conn = TelnetConnection()
    conn.ask_binary()
    assert conn.data_to_send() == cmd(DO, BINARY)
    assert receive(conn, cmd(WILL, BINARY) + "ă ✓\r\n".encode()) == (lines("ă ✓"), b"")
    conn.ask_binary()
    assert conn.data_to_send() == b""  # on already
    assert receive(conn, cmd(WILL, BINARY) * 1000) == ([], b"")


def test_binary_refused_is_not_asked_for_again() -> None:
    conn = TelnetConnection()
    conn.ask_binary()
    conn.data_to_send()
    assert receive(conn, cmd(WONT, BINARY)) == ([], b"")
    conn.ask_binary()
    assert conn.data_to_send() == b""


def test_binary_offered_before_we_ask_is_refused_then_agreed_once_asked() -> None:
    """`telnet -8` offers WILL BINARY at once: outside password mode our options never
    change (test_protocol_fuzz.py), so it is refused then, and asked for with the password."""
    conn = TelnetConnection()
    assert receive(conn, cmd(WILL, BINARY)) == ([], cmd(DONT, BINARY))
    conn.ask_binary()
    assert conn.data_to_send() == cmd(DO, BINARY)
    assert receive(conn, cmd(WILL, BINARY)) == ([], b"")
    assert receive(conn, cmd(WONT, BINARY)) == ([], cmd(DONT, BINARY))  # acknowledged
    assert receive(conn, cmd(WONT, BINARY) * 1000) == ([], b"")
    assert receive(conn, cmd(WILL, BINARY)) == ([], cmd(DO, BINARY))  # wanted: agreed


@pytest.mark.parametrize("option", [ECHO, SGA, NAWS])
def test_wont_and_dont_for_options_that_are_off_get_no_reply(option: int) -> None:
    conn = TelnetConnection()
    assert receive(conn, (cmd(WONT, option) + cmd(DONT, option)) * 100) == ([], b"")


def test_a_million_requests_get_one_reply_each_kind() -> None:
    conn = TelnetConnection()
    flood = (cmd(DO, NAWS) + cmd(WILL, NAWS) + cmd(DONT, NAWS) + cmd(WONT, NAWS)) * 250_000
    assert conn.receive_data(flood) == []
    assert conn.data_to_send() == cmd(WONT, NAWS) + cmd(DONT, NAWS)


def test_typical_client_greeting() -> None:
    conn = TelnetConnection()
    greeting = cmd(WILL, NAWS) + cmd(WILL, TTYPE) + cmd(DO, SGA) + cmd(WILL, LINEMODE)
    reply = cmd(DONT, NAWS) + cmd(DONT, TTYPE) + cmd(WONT, SGA) + cmd(DONT, LINEMODE)
    assert receive(conn, greeting + b"nick\r\n") == (lines("nick"), reply)


def test_password_mode_round_trip() -> None:
    conn = TelnetConnection()
    assert not conn.password_mode
    assert conn.start_password_mode() == cmd(WILL, ECHO)
    assert conn.password_mode
    # The client agrees: that is the answer we asked for, so nothing is sent back.
    assert receive(conn, cmd(DO, ECHO) + b"secret\r\n") == (lines("secret"), b"")
    assert conn.end_password_mode() == cmd(WONT, ECHO)
    assert not conn.password_mode
    assert receive(conn, cmd(DONT, ECHO)) == ([], b"")
    assert receive(conn, cmd(DO, ECHO)) == ([], cmd(WONT, ECHO))  # and refused again now


def test_password_mode_again_after_the_client_acknowledged() -> None:
    conn = TelnetConnection()
    conn.start_password_mode()
    receive(conn, cmd(DO, ECHO))
    conn.end_password_mode()
    receive(conn, cmd(DONT, ECHO))
    assert conn.start_password_mode() == cmd(WILL, ECHO)
    assert receive(conn, cmd(DO, ECHO)) == ([], b"")


def test_start_password_mode_twice_sends_will_echo_once() -> None:
    conn = TelnetConnection()
    assert conn.start_password_mode() == cmd(WILL, ECHO)
    assert conn.start_password_mode() == b""  # still waiting for the answer
    receive(conn, cmd(DO, ECHO))
    assert conn.start_password_mode() == b""  # already on


def test_end_password_mode_without_start_sends_nothing() -> None:
    assert TelnetConnection().end_password_mode() == b""


def test_client_refusing_echo_is_accepted_quietly() -> None:
    conn = TelnetConnection()
    conn.start_password_mode()
    assert receive(conn, cmd(DONT, ECHO)) == ([], b"")
    assert conn.end_password_mode() == b""  # it is off already


def test_client_asking_for_echo_first_in_password_mode_is_agreed() -> None:
    conn = TelnetConnection()
    conn.start_password_mode()
    receive(conn, cmd(DO, ECHO))
    conn.end_password_mode()
    receive(conn, cmd(DONT, ECHO))
    conn.receive_data(cmd(DO, ECHO))
    assert conn.data_to_send() == cmd(WONT, ECHO)  # not in password mode


def test_a_refusal_is_repeated_after_the_option_changed_state() -> None:
    conn = TelnetConnection()
    assert receive(conn, cmd(DO, ECHO)) == ([], cmd(WONT, ECHO))
    assert conn.start_password_mode() == cmd(WILL, ECHO)
    assert receive(conn, cmd(DONT, ECHO)) == ([], b"")  # the client will not have it
    conn.end_password_mode()
    # Echo went NO -> WANTYES -> NO since our last WONT: a new DO is a new question.
    assert receive(conn, cmd(DO, ECHO)) == ([], cmd(WONT, ECHO))
    assert receive(conn, cmd(DO, ECHO)) == ([], b"")


def test_sga_is_agreed_only_in_password_mode_and_dropped_after() -> None:
    conn = TelnetConnection()
    conn.start_password_mode()
    assert receive(conn, cmd(DO, ECHO) + cmd(DO, SGA)) == ([], cmd(WILL, SGA))
    assert receive(conn, cmd(DO, SGA) * 10) == ([], b"")
    assert conn.end_password_mode() == cmd(WONT, ECHO) + cmd(WONT, SGA)
    assert receive(conn, cmd(DONT, ECHO) + cmd(DONT, SGA)) == ([], b"")
    assert receive(conn, cmd(DO, SGA)) == ([], cmd(WONT, SGA))


def test_other_options_are_refused_in_password_mode_too() -> None:
    conn = TelnetConnection()
    conn.start_password_mode()
    assert receive(conn, cmd(DO, NAWS) + cmd(WILL, ECHO)) == ([], cmd(WONT, NAWS) + cmd(DONT, ECHO))


def test_client_turning_echo_off_in_password_mode_is_acknowledged_once_per_change() -> None:
    conn = TelnetConnection()
    conn.start_password_mode()
    receive(conn, cmd(DO, ECHO))
    assert receive(conn, cmd(DONT, ECHO)) == ([], cmd(WONT, ECHO))
    assert receive(conn, cmd(DONT, ECHO) * 100) == ([], b"")
    assert receive(conn, cmd(DO, ECHO)) == ([], cmd(WILL, ECHO))
    assert receive(conn, cmd(DO, ECHO) * 100) == ([], b"")


def test_pending_replies_are_written_before_will_echo() -> None:
    # Order matters: a WONT ECHO written after WILL ECHO would switch echo back off.
    conn = TelnetConnection()
    conn.receive_data(cmd(DO, ECHO))
    assert conn.start_password_mode() == cmd(WONT, ECHO) + cmd(WILL, ECHO)
    assert conn.data_to_send() == b""
    # The client took our WONT, then agrees to the WILL.
    assert receive(conn, cmd(DO, ECHO)) == ([], b"")


def test_start_while_waiting_for_the_wont_answer_is_queued() -> None:
    conn = TelnetConnection()
    conn.start_password_mode()
    receive(conn, cmd(DO, ECHO))
    assert conn.end_password_mode() == cmd(WONT, ECHO)
    assert conn.start_password_mode() == b""  # RFC 1143: wait for DONT, then ask again
    assert receive(conn, cmd(DONT, ECHO)) == ([], cmd(WILL, ECHO))
    assert receive(conn, cmd(DO, ECHO)) == ([], b"")


def test_end_while_waiting_for_the_will_answer_is_queued() -> None:
    conn = TelnetConnection()
    conn.start_password_mode()
    assert conn.end_password_mode() == b""
    assert receive(conn, cmd(DO, ECHO)) == ([], cmd(WONT, ECHO))
    assert receive(conn, cmd(DONT, ECHO)) == ([], b"")


def test_end_while_waiting_then_refused_needs_nothing_more() -> None:
    conn = TelnetConnection()
    conn.start_password_mode()
    conn.end_password_mode()
    assert receive(conn, cmd(DONT, ECHO)) == ([], b"")
    assert conn.start_password_mode() == cmd(WILL, ECHO)


def test_start_end_start_while_waiting_cancels_the_queue() -> None:
    conn = TelnetConnection()
    conn.start_password_mode()
    conn.end_password_mode()
    assert conn.start_password_mode() == b""
    assert receive(conn, cmd(DO, ECHO)) == ([], b"")


def test_peer_answering_wont_with_do_is_tolerated() -> None:
    conn = TelnetConnection()
    conn.start_password_mode()
    receive(conn, cmd(DO, ECHO))
    conn.end_password_mode()
    # A broken peer answers our WONT with DO: RFC 1143 says treat echo as off, say nothing.
    assert receive(conn, cmd(DO, ECHO)) == ([], b"")
    assert conn.start_password_mode() == cmd(WILL, ECHO)


def test_peer_answering_wont_with_do_while_restart_is_queued() -> None:
    conn = TelnetConnection()
    conn.start_password_mode()
    receive(conn, cmd(DO, ECHO))
    conn.end_password_mode()
    conn.start_password_mode()
    assert receive(conn, cmd(DO, ECHO)) == ([], b"")  # echo is on, as we want again
    assert conn.end_password_mode() == cmd(WONT, ECHO)


def test_two_q_method_peers_never_loop() -> None:
    """Echo every reply back as the peer's answer many times: the exchange dies out."""
    conn = TelnetConnection()
    swap = {WILL: DO, WONT: DONT, DO: WILL, DONT: WONT}
    out = conn.start_password_mode() + cmd(DO, NAWS) + cmd(WILL, TTYPE)
    conn.receive_data(out[3:])
    out = out[:3] + conn.data_to_send()
    for _ in range(10):
        if not out:
            break
        mirrored = b"".join(cmd(swap[out[i + 1]], out[i + 2]) for i in range(0, len(out), 3))
        conn.receive_data(mirrored)
        out = conn.data_to_send()
    assert out == b""


# -- output ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "wire"),
    [
        ("hello", b"hello"),
        ("a\nb\n", b"a\r\nb\r\n"),
        ("a\r\nb", b"a\r\nb"),
        ("a\rb", b"a\r\0b"),
        ("\r\n\n\r", b"\r\n\r\n\r\0"),
        ("café ☕", "café ☕".encode()),
        ("", b""),
        ("bad \udc80", b"bad ?"),
    ],
)
def test_encode_text(text: str, wire: bytes) -> None:
    assert TelnetConnection.encode_text(text) == wire


def test_encoded_text_reads_back_as_the_same_lines() -> None:
    text = "one\ntwo\r\nthree ☕\n"
    assert TelnetConnection().receive_data(TelnetConnection.encode_text(text)) == lines(
        "one", "two", "three ☕"
    )


# -- layering ----------------------------------------------------------------------------------


@pytest.mark.parametrize("module", ["lines.py", "telnet.py"])
def test_protocol_layer_never_imports_io(module: str) -> None:
    source = Path(telnet_module.__file__).with_name(module).read_text()
    imported: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & {"asyncio", "socket", "selectors", "ssl", "trio", "anyio"}


def test_an_idle_connection_keeps_its_state_small() -> None:
    """10,000 idle connections must fit in a few KB each (issue 15): no output buffer until
    there is a reply, option sets as int bits, the too-long event made when it happens.
    Counted in bytes allocated (tracemalloc), never timed."""
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        conns = [TelnetConnection(2048) for _ in range(1000)]
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    each = sum(s.size_diff for s in after.compare_to(before, "filename")) / len(conns)
    assert each < 400, each  # 528 bytes before
    # and it still answers: a reply appears, is taken once, and the buffer is empty again
    c = conns[0]
    c.receive_data(bytes((255, 246)))  # IAC AYT
    assert c.data_to_send()
    assert c.data_to_send() == b""
