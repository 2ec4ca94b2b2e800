"""IRCv3 labeled-response (frontends/irc/labels.py): a client with `labeled-response` and
`batch` tags a command `@label=...` and finds the label on its reply: one line labeled,
several in a labeled `labeled-response` batch, none an `ACK`; with echo-message the echo of
a labeled PRIVMSG or NOTICE is the reply. A label past 64 bytes is ignored, a label's value
is escaped on the way out, and no other client ever sees it. On main the cap was not
offered (CAP REQ was NAKed) and a label was never repeated."""

from __future__ import annotations

from typing import Any

from tests.helpers.irc import RawIrc, joined
from torbit.app import App
from torbit.protocol.irc import MessageReceived, parse_line

CAPS = "labeled-response batch"


def parsed(line: str) -> Any:
    event = parse_line(line.encode())
    assert isinstance(event, MessageReceived), line
    return event.message


async def client(app: App, nick: str, cleanup: list[Any], *rooms: str, caps: str = CAPS) -> RawIrc:
    raw = await joined(app, nick, *rooms, caps=caps)
    cleanup.append(raw)
    return raw


async def until_pong(raw: RawIrc, token: str = "sync") -> list[str]:
    """The lines received up to the answer of an unlabeled PING (that answer left out)."""
    start = len(raw.lines)
    raw.send(f"PING :{token}")
    await raw.expect(" PONG ")
    return raw.lines[start:-1]


def labeled(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("@") and "label=" in line.split(" ")[0]]


def batch_of(lines: list[str], label: str) -> list[Any]:
    """The labeled-response batch labeled `label` in `lines`: its BATCH start, its lines and
    its end, checked to be well formed."""
    messages = [parsed(line) for line in lines]
    starts = [m for m in messages if m.command == "BATCH" and m.tags.get("label") == label]
    assert len(starts) == 1, lines
    start = starts[0]
    assert start.params[0].startswith("+") and start.params[1] == "labeled-response"
    ref = start.params[0][1:]
    assert ref.replace("-", "").isalnum()
    begin = messages.index(start)
    end = next(
        i for i, m in enumerate(messages) if m.command == "BATCH" and m.params == ("-" + ref,)
    )
    inside = [m for m in messages[begin + 1 : end] if m.tags.get("batch") == ref]
    assert all("label" not in m.tags for m in inside)
    return inside


async def test_cap_offered_and_single_line_reply_labeled(app: App, cleanup: list[Any]) -> None:
    raw = await RawIrc.connect(app)
    cleanup.append(raw)
    raw.send("CAP LS 302")
    assert "labeled-response" in (await raw.expect(" LS ")).split(" ")
    raw.send(f"CAP REQ :{CAPS}")
    assert " ACK " in await raw.expect(" ACK ")
    raw.send("NICK lab", "USER lab 0 * :lab", "CAP END")
    await raw.expect(" 376 ")
    raw.send("@label=98765 PING adhoctestline")
    line = await raw.expect("adhoctestline")
    m = parsed(line)
    assert (m.command, m.params[-1], dict(m.tags)) == ("PONG", "adhoctestline", {"label": "98765"})
    # an unknown command's one error is labeled too
    raw.send("@label=deadbeef NONEXISTENT_COMMAND")
    m = parsed(await raw.expect(" 421 "))
    assert dict(m.tags) == {"label": "deadbeef"}


async def test_several_lines_go_in_a_labeled_batch(app: App, cleanup: list[Any]) -> None:
    raw = await client(app, "lab", cleanup, "lobby")
    await client(app, "other", cleanup, "lobby")
    raw.send("@label=w1 WHOIS other")
    await raw.expect(" 318 ")
    lines = await until_pong(raw)
    inside = batch_of(raw.lines[-len(lines) - 20 :], "w1")
    codes = [m.command for m in inside]
    assert codes[0] == "311" and codes[-1] == "318", codes
    raw.send("@label=n1 NAMES #lobby")
    await raw.expect(" 366 ")
    lines = await until_pong(raw)
    inside = batch_of(raw.lines[-len(lines) - 10 :], "n1")
    assert [m.command for m in inside][-1] == "366"
    assert any("other" in m.params[-1] for m in inside if m.command == "353")


async def test_labeled_join_is_one_batch(app: App, cleanup: list[Any]) -> None:
    """irctest's testBatchedJoinMessages: the JOIN, topic and NAMES in one labeled batch."""
    raw = await client(app, "lab", cleanup, caps=f"{CAPS} server-time message-tags")
    await until_pong(raw)
    start = len(raw.lines)
    raw.send("@label=12345 JOIN #xyz")
    await raw.expect("BATCH -")
    lines = raw.lines[start:]
    first = parsed(lines[0])
    assert first.command == "BATCH" and first.tags.get("label") == "12345", lines
    inside = batch_of(lines, "12345")
    assert len(inside) == len(lines) - 2, lines  # every line between is in the batch
    assert [m.command for m in inside][:1] == ["JOIN"] and inside[-1].command == "366"


async def test_no_reply_is_acked(app: App, cleanup: list[Any]) -> None:
    raw = await client(app, "lab", cleanup)
    raw.send("@label=98765 PONG adhoctestline")
    m = parsed(await raw.expect(" ACK"))
    assert (m.command, m.params, dict(m.tags)) == ("ACK", (), {"label": "98765"})
    assert labeled(await until_pong(raw)) == []  # one ACK, nothing else labeled


async def test_labeled_privmsg_echo_carries_the_label_and_no_one_else_sees_it(
    app: App, cleanup: list[Any]
) -> None:
    every = f"{CAPS} echo-message message-tags server-time"
    lab = await client(app, "lab", cleanup, "lobby", caps=every)
    other = await client(app, "other", cleanup, "lobby", caps=every)
    plain = await client(app, "plain", cleanup, "lobby", caps="")
    lab.send("@label=r1 PRIVMSG #lobby :hello room")
    echo = parsed(await lab.expect("hello room"))
    assert echo.command == "PRIVMSG" and echo.tags.get("label") == "r1"
    assert "msgid" in echo.tags  # the echo as the client gets it, and the label besides
    for reader in (other, plain):
        line = await reader.expect("hello room")
        assert "label" not in parsed(line).tags, line
    # a private message: its echo too, and the recipient gets no label
    lab.send("@label=p1 PRIVMSG other :hello you")
    echo = parsed(await lab.expect("hello you"))
    assert echo.tags.get("label") == "p1"
    assert "label" not in parsed(await other.expect("hello you")).tags
    # a labeled command of another client's never labels this one's lines
    other.send("@label=o1 PRIVMSG #lobby :from other")
    assert "label" not in parsed(await lab.expect("from other")).tags
    assert parsed(await other.expect("from other")).tags.get("label") == "o1"
    for raw in (lab, other, plain):
        assert not [line for line in await until_pong(raw) if "label=" in line]


async def test_labeled_privmsg_without_echo_message_is_acked(app: App, cleanup: list[Any]) -> None:
    lab = await client(app, "lab", cleanup, "lobby")
    other = await client(app, "other", cleanup, "lobby", caps="")
    lab.send("@label=a1 PRIVMSG #lobby :quietly")
    assert "label" not in parsed(await other.expect("quietly")).tags
    m = parsed(await lab.expect(" ACK"))
    assert dict(m.tags) == {"label": "a1"}
    # an error is the reply, labeled
    lab.send("@label=e1 PRIVMSG nobody-here :hi")
    assert dict(parsed(await lab.expect(" 401 ")).tags) == {"label": "e1"}


async def test_long_label_ignored_and_values_escaped(app: App, cleanup: list[Any]) -> None:
    raw = await client(app, "lab", cleanup)
    raw.send(f"@label={'x' * 65} PING long")
    assert parsed(await raw.expect(" long")).tags == {}
    raw.send(f"@label={'y' * 64} PING max")
    assert dict(parsed(await raw.expect(" max")).tags) == {"label": "y" * 64}
    raw.send("@label= PING empty")
    assert parsed(await raw.expect(" empty")).tags == {}
    # a label that reads as a space, ';', CR and LF once unescaped goes back escaped: one
    # line, its one tag, nothing injected
    raw.send(r"@label=a\sb\:c\r\nQUIT PING escaped")
    line = await raw.expect(" escaped")
    assert line.split(" ")[0] == r"@label=a\sb\:c\r\nQUIT"
    assert dict(parsed(line).tags) == {"label": "a b;c\r\nQUIT"}
    assert [line for line in await until_pong(raw) if "QUIT" in line] == []


async def test_no_label_without_the_caps(app: App, cleanup: list[Any]) -> None:
    raw = await client(app, "lab", cleanup, caps="labeled-response")  # no batch
    raw.send("@label=z PING nobatch")
    assert parsed(await raw.expect(" nobatch")).tags == {}
    bare = await client(app, "bare", cleanup, caps="")
    bare.send("@label=z PING bare")
    assert parsed(await bare.expect(" bare")).tags == {}


async def test_chathistory_batch_nests_in_the_labeled_one(app: App, cleanup: list[Any]) -> None:
    caps = f"{CAPS} draft/chathistory message-tags server-time"
    lab = await client(app, "lab", cleanup, "lobby", caps=caps)
    other = await client(app, "other", cleanup, "lobby", caps="")
    other.send("PRIVMSG #lobby :kept in history")
    await lab.expect("kept in history")
    await until_pong(lab)
    start = len(lab.lines)
    lab.send("@label=h1 CHATHISTORY LATEST #lobby * 10")
    await until_pong(lab)
    lines = lab.lines[start:]
    inside = batch_of(lines, "h1")
    assert [m.command for m in inside] == ["BATCH", "BATCH"], lines  # the chathistory batch's
    opened = inside[0]
    assert opened.params[0].startswith("+") and opened.params[1] == "chathistory"
    ref = opened.params[0][1:]
    assert inside[1].params == ("-" + ref,)
    history = [parsed(line) for line in lines if "kept in history" in line]
    assert len(history) == 1 and history[0].tags["batch"] == ref
    assert "label" not in history[0].tags


async def test_labeled_message_to_oneself_comes_back_twice(app: App, cleanup: list[Any]) -> None:
    """The echo, labeled, and the message delivered, not (the spec's "messages to itself")."""
    lab = await client(app, "lab", cleanup, caps=f"{CAPS} echo-message")
    await until_pong(lab)
    lab.send("@label=s1 PRIVMSG lab :to me")
    lines = [line for line in await until_pong(lab) if "to me" in line]
    assert len(lines) == 2, lines
    assert sorted(parsed(line).tags.get("label", "") for line in lines) == ["", "s1"]
    lab.send("PRIVMSG lab :unlabeled")  # as before: delivered once
    assert len([line for line in await until_pong(lab) if "unlabeled" in line]) == 1
