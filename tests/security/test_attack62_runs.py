"""attack62: stop 61's runs fanned to each door in one call (`Hub.dispatch_run`, the doors'
`fan_run`, IRC's kept `apart(senders)` splits) as hostile, parallel clients see them. Two
senders pipeline at once, so their lines are committed as runs, some of both; readers on
every door ignore one of them, change their ignore list and caps between runs, or are
kicked between runs with their sessions left open. Runs are counted (`Hub.dispatch_run`
wrapped), never timed."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from tests.conftest import ServerFactory
from tests.helpers.http import PASSWORD, texts
from tests.helpers.irc import RawIrc, joined
from tests.helpers.moderation import Ws, api, command, create_room, in_hall, open_hall
from tests.helpers.slow_reader import stop_reading
from tests.helpers.telnet_client import TelnetClient
from torbit.app import App
from torbit.core.hub import Hub
from torbit.core.models import Message

ROUNDS = 8
BURST = 20


def count_runs(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Runs dispatched to #hall, and those of more than one sender (`mixed`)."""
    counts: Counter[str] = Counter()
    real = Hub.dispatch_run

    def counted(self: Hub, messages: list[Message]) -> int:
        if messages[0].channel == "hall":
            counts["runs"] += 1
            counts["mixed"] += len({m.sender_key for m in messages}) > 1
        return real(self, messages)

    monkeypatch.setattr(Hub, "dispatch_run", counted)
    return counts


async def member(app: App, *names: str) -> None:
    """Each of `names` joins #hall (HTTP)."""
    for name in names:
        async with api(app, name) as c:
            assert (await c.put(f"/api/v1/rooms/hall/members/{name}")).status_code == 200


def burst(mallory: TelnetClient | None, alice: RawIrc, tag: str) -> None:
    """mallory's (telnet) and alice's (IRC) lines of one round, each written at once."""
    if mallory is not None:
        mallory.send_raw("".join(f"m{tag}.{i}\r\n" for i in range(BURST)).encode())
    alice.send(*[f"PRIVMSG #hall :a{tag}.{i}" for i in range(BURST)])


async def heard(rita: TelnetClient, tag: str, both: bool = True) -> None:
    """rita (telnet, ignoring no one) has the round's last line of each sender."""
    last = rf"(<mallory> m{tag}|<alice> a{tag})\.{BURST - 1}$"
    for _ in range(2 if both else 1):
        await rita.expect(last)


def said(lines: list[str], sender: str) -> list[str]:
    """The texts `sender` said in #hall, from telnet or IRC lines, in order."""
    out = []
    for line in lines:
        m = re.search(rf"(?:<{sender}> |:{sender}!\S* PRIVMSG #hall :?)(\S+)$", line)
        if m:
            out.append(m.group(1))
    return out


def every(prefix: str, rounds: range) -> list[str]:
    return [f"{prefix}{r}.{i}" for r in rounds for i in range(BURST)]


async def test_mixed_runs_reach_no_ignorer_on_any_door_live_or_from_history(
    make_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """mallory (telnet) and alice (IRC) each pipeline 20 lines a round, 8 rounds, at once;
    ivan ignores mallory and listens on telnet, IRC without caps, IRC with tags and a
    WebSocket; rita ignores no one (the fan path). ivan gets all of alice's 160 lines in
    order on each door and none of mallory's, nor from a history page, `/receive` or
    `CHATHISTORY`; rita gets all 320."""
    counts = count_runs(monkeypatch)
    app = await open_hall(await make_server(), "mallory", "ivan", "rita")
    await member(app, "mallory", "ivan", "rita")
    async with api(app, "ivan") as ivan_http:
        assert (await ivan_http.put("/api/v1/me/ignores/mallory")).status_code == 204
        mallory = await in_hall(app, "mallory")
        rita = await in_hall(app, "rita")
        ivan_tn = await in_hall(app, "ivan")
        alice = await joined(app, "alice", "hall", password=PASSWORD)
        plain = await joined(app, "ivan", "hall", password=PASSWORD)
        tagged = await joined(
            app, "ivan", "hall", password=PASSWORD, caps="server-time message-tags batch"
        )
        ws = await Ws.open(app, "ivan")
        await ws.subscribe("hall")
        for r in range(ROUNDS):
            burst(mallory, alice, str(r))
            await heard(rita, str(r))
        last = f"a{ROUNDS - 1}.{BURST - 1}"
        await ivan_tn.expect(rf"<alice> {re.escape(last)}$")
        for irc in (plain, tagged):
            await irc.expect(f"PRIVMSG #hall {last}")  # (no space in it: no colon)
        await ws.next("message", last)
        page = texts((await ivan_http.get("/api/v1/rooms/hall/messages?limit=500")).json())
        received = texts((await ivan_http.get("/receive/hall/ivan?limit=1000")).json())
    tagged.send("CHATHISTORY LATEST #hall * 500", "PING :history")
    await tagged.expect("PONG")
    history = [line for line in tagged.lines if "chathistory" in line or "@batch=" in line]
    rounds = range(ROUNDS)
    assert said(rita.seen, "mallory") == every("m", rounds)
    assert said(rita.seen, "alice") == every("a", rounds)
    for lines in (ivan_tn.seen, plain.lines, tagged.lines):
        assert said(lines, "mallory") == [], lines
        assert said(lines, "alice")[: ROUNDS * BURST] == every("a", rounds)
    assert all(line.startswith("@time=") for line in tagged.lines if " PRIVMSG #hall " in line)
    assert [t for t in ws.texts() if t.startswith("m")] == []
    assert ws.texts() == every("a", rounds)
    assert [t for t in page + received if t.startswith("m")] == []
    assert [line for line in history if ":mallory!" in line] == []
    print(f"runs to #hall {counts['runs']}, of both senders {counts['mixed']}")
    assert counts["mixed"] > 0, counts
    await ws.close()


async def test_ignores_and_caps_changed_between_runs_take_effect_at_once(
    make_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ivan's IRC session turns `SILENCE +mallory` and `CAP REQ :server-time` on and off
    apart (the four pairs of the two, 3 times over), two rounds of both senders' runs
    flowing in each: no line of mallory's after a `SILENCE +mallory` answer and before the
    `-` one, every line after a server-time ACK tagged and none after its removal; his
    second IRC session (no changes of its own) hears none of mallory's either once a PING
    after each answer is answered, and its lines, and tess's (server-time all along), keep
    their tags."""
    counts = count_runs(monkeypatch)
    app = await open_hall(await make_server(), "mallory", "ivan", "rita", "tess")
    await member(app, "mallory", "ivan", "rita", "tess")
    mallory = await in_hall(app, "mallory")
    rita = await in_hall(app, "rita")
    alice = await joined(app, "alice", "hall", password=PASSWORD)
    # before ivan in either cap set's group (CAP LS 302 enables cap-notify): a grouping kept
    # past his change renders his lines by the group's first, tess (server-time) or other
    tess = await joined(app, "tess", "hall", password=PASSWORD, caps="server-time")
    other = await joined(app, "ivan", "hall", password=PASSWORD, caps="cap-notify")
    ivan = await joined(app, "ivan", "hall", password=PASSWORD, caps="cap-notify")
    marks: list[tuple[int, bool]] = []  # other's line count once each state applied
    # (silenced, timed): the caps change alone 3 times a cycle, twice while ivan ignores no
    # one (the fan path: a grouping kept for the room's listeners must be dropped)
    states = [(False, True), (False, False), (True, False), (True, True)] * 3
    n = 0
    was = (False, False)
    for k, (silenced, timed) in enumerate(states):
        if silenced != was[0]:
            sign = "+" if silenced else "-"
            ivan.send(f"SILENCE {sign}mallory")
            await ivan.expect(f"SILENCE {sign}mallory!*@*")
        if timed != was[1]:
            ivan.send(f"CAP REQ :{'' if timed else '-'}server-time")
            await ivan.expect(" ACK ")
        was = (silenced, timed)
        other.send(f"PING :s{k}")
        await other.expect(f"PONG torbit s{k}")
        marks.append((len(other.lines), silenced))
        for _ in range(2):
            burst(mallory, alice, str(n))
            await heard(rita, str(n))
            n += 1
    for irc in (ivan, other, tess):
        irc.send("PING :end")
        await irc.expect("PONG torbit end")
    leaks = wrong = heard_mallory = tagged = 0
    silenced = timed = False
    for line in ivan.lines:
        if " SILENCE " in line:
            silenced = " SILENCE +mallory" in line
        elif " CAP ivan ACK " in line:
            timed = not line.rsplit(" ", 1)[1].lstrip(":").startswith("-")
        elif " PRIVMSG #hall " in line:
            leaks += silenced and ":mallory!" in line
            heard_mallory += ":mallory!" in line
            wrong += timed != line.startswith("@time=")
            tagged += line.startswith("@time=")
    steady = sum(
        (" PRIVMSG #hall " in line) and not line.startswith("@time=") for line in tess.lines
    ) + sum(line.startswith("@time=") for line in other.lines)
    other_leaks = 0
    for i, (start, silenced) in enumerate(marks):
        end = marks[i + 1][0] if i + 1 < len(marks) else len(other.lines)
        other_leaks += silenced * len(said(other.lines[start:end], "mallory"))
    print(
        f"runs {counts['runs']} (mixed {counts['mixed']}): ivan heard mallory {heard_mallory}"
        f" times, {leaks} while silenced, {tagged} lines tagged, {wrong} wrongly;"
        f" his other session {other_leaks} while silenced; tess and it {steady} wrongly"
    )
    assert leaks == 0 and wrong == 0 and other_leaks == 0 and steady == 0
    assert heard_mallory > 0 and tagged > 0 and counts["mixed"] > 0


async def sync_after_kick(
    irc: RawIrc, tn: TelnetClient, ws: Ws, tag: str
) -> tuple[list[str], list[str], list[str], int]:
    """What bob's sessions got after their kick's line, once each answered a request made
    after it (IRC `PING`, telnet `/join hall`, the WebSocket's subscribe: bob back in),
    and how many of alice's lines his telnet session had before it."""
    irc.send(f"PING :{tag}")
    await irc.expect(f"PONG torbit {tag}")
    kick = max(i for i, line in enumerate(irc.lines) if " KICK #hall bob " in line)
    after_irc = [line for line in irc.lines[kick:] if " PRIVMSG #hall " in line]
    irc.lines.clear()
    irc.send("JOIN #hall")
    await irc.expect(" 366 bob #hall ")
    await command(tn, "/join hall", r"^\* you are (already )?in #hall")
    lines = list(tn.seen)  # cleared at the last round's end
    kicked = max(i for i, line in enumerate(lines) if "kicked" in line)
    after_tn = [line for line in lines[kicked:] if "<alice> " in line]
    before = len(said(lines[:kicked], "alice"))
    tn.seen.clear()
    await ws.subscribe("hall")
    frames = ws.frames
    kicked = max(
        i for i, f in enumerate(frames) if f["type"] == "notice" and "kicked" in f.get("text", "")
    )
    back = next(  # its history follows: the room's last lines, from before the kick too
        i
        for i, f in enumerate(frames)
        if i > kicked and f["type"] == "notice" and "you are in #hall" in f.get("text", "")
    )
    after_ws = [f for f in frames[kicked:back] if f["type"] == "message"]
    return after_irc, after_tn, [str(f["message"]["text"]) for f in after_ws], before


async def test_a_kick_between_runs_ends_them_on_every_open_session(
    make_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """alice pipelines runs into #hall while bob listens on IRC, telnet and a WebSocket;
    after two of them alice, the owner, kicks bob (HTTP) with one more run on its way, and
    two more follow the answer; bob, his sessions left open, gets no line of #hall after his
    kick's on any of them, and his HTTP send is refused; he comes back in, 4 times."""
    counts = count_runs(monkeypatch)
    app = await open_hall(await make_server(), "rita")
    await member(app, "rita")
    rita = await in_hall(app, "rita")
    alice = await joined(app, "alice", "hall", password=PASSWORD)
    bob_irc = await joined(app, "bob", "hall", password=PASSWORD)
    bob_tn = await in_hall(app, "bob")
    bob_ws = await Ws.open(app, "bob")
    await bob_ws.subscribe("hall")
    late: list[int] = []
    before = 0
    async with api(app, "alice") as owner, api(app, "bob") as bob:
        for k in range(4):
            for j in range(2):
                burst(None, alice, f"{k}b{j}")
                await heard(rita, f"{k}b{j}", both=False)
            burst(None, alice, f"{k}k")  # a run on its way as the kick lands
            r = await owner.delete("/api/v1/rooms/hall/members/bob", params={"reason": f"r{k}"})
            assert r.status_code == 204, r.text
            refused = await bob.post("/api/v1/rooms/hall/messages", json={"text": "back?"})
            assert refused.status_code in (403, 404), refused.text
            for j in range(2):
                burst(None, alice, f"{k}a{j}")
                await heard(rita, f"{k}a{j}", both=False)
            irc, tn, ws, heard_before = await sync_after_kick(bob_irc, bob_tn, bob_ws, f"k{k}")
            before += heard_before
            late.append(len(irc) + len(tn) + len(ws))
            assert (irc, tn, ws) == ([], [], []), (k, irc[:3], tn[:3], ws[:3])
    print(f"runs {counts['runs']}: bob's telnet heard {before} lines before his kicks;")
    print(f"lines after the kick on his three sessions, by round: {late}")
    assert late == [0, 0, 0, 0] and counts["runs"] > 0 and before > 0
    await bob_ws.close()


async def test_readers_that_stop_reading_are_dropped_by_runs_the_rest_get_them_all(
    make_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """bob (telnet) and carol (IRC) stop reading while alice pipelines runs of 20 lines of
    ~420 bytes (8 KB a run) into #hall, both doors' output bounded to 8 KB: each is dropped
    once, on the fan path, and rita (telnet) and dave (IRC) get every line, in order."""
    counts = count_runs(monkeypatch)
    bound = {"max_output_buffer": 8192}
    app = await open_hall(await make_server(telnet=bound, irc=bound), "dave", "rita")
    await member(app, "dave", "rita")
    rita = await in_hall(app, "rita")
    dave = await joined(app, "dave", "hall", password=PASSWORD)
    alice = await joined(app, "alice", "hall", password=PASSWORD)
    bob = await in_hall(app, "bob")
    stop_reading(app, bob.writer, "bob")
    carol = await joined(app, "carol", "hall", password=PASSWORD)
    stop_reading(app, carol.writer, "carol")
    dropped = app.metrics.dropped_clients
    pad = "x" * 400
    r = 0
    while r < 200 and (
        dropped.labels("telnet")._value.get(),
        dropped.labels("irc")._value.get(),
    ) != (1, 1):
        alice.send(*[f"PRIVMSG #hall :a{r}.{i} {pad}" for i in range(BURST)])
        await rita.expect(rf"<alice> a{r}\.{BURST - 1} ")
        r += 1
    alice.send("PRIVMSG #hall :end", "PING :end")
    await dave.expect("PRIVMSG #hall end")
    await rita.expect(r"<alice> end$")
    sent = [f"a{k}.{i}" for k in range(r) for i in range(BURST)] + ["end"]
    got_rita = [line.split("> ", 1)[1].split(" ")[0] for line in rita.seen if "<alice> " in line]
    got_dave = [
        line.split(" PRIVMSG #hall ", 1)[1].lstrip(":").split(" ")[0]
        for line in dave.lines
        if " PRIVMSG #hall " in line
    ]
    telnet_drops = dropped.labels("telnet")._value.get()
    irc_drops = dropped.labels("irc")._value.get()
    print(
        f"{r} runs of 8 KB ({counts['runs']} runs to #hall): drops telnet {telnet_drops}, irc {irc_drops}"
    )
    assert (telnet_drops, irc_drops) == (1, 1)
    assert got_rita == sent and got_dave == sent


async def test_a_mute_between_runs_refuses_every_line_after_its_answer(
    make_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """mallory pipelines runs into #hall from telnet and IRC at once; after two rounds of
    them alice mutes her (HTTP) and, the answer in, mallory writes one more run on each
    door: none of its 40 lines is stored or heard, each door says why; alice unmutes her
    and it starts again, 4 times."""
    counts = count_runs(monkeypatch)
    app = await open_hall(await make_server(), "mallory", "rita")
    await member(app, "mallory", "rita")
    rita = await in_hall(app, "rita")
    mallory_tn = await in_hall(app, "mallory")
    mallory_irc = await joined(app, "mallory", "hall", password=PASSWORD)
    core = app.core
    assert core is not None
    refusals = []
    async with api(app, "alice") as alice:
        for k in range(4):
            for j in range(2):
                mallory_tn.send_raw("".join(f"m{k}{j}.{i}\r\n" for i in range(BURST)).encode())
                mallory_irc.send(*[f"PRIVMSG #hall :i{k}{j}.{i}" for i in range(BURST)])
                for _ in range(2):
                    await rita.expect(rf"<mallory> [mi]{k}{j}\.{BURST - 1}$")
            r = await alice.put("/api/v1/rooms/hall/mutes/mallory", json={"minutes": 5})
            assert r.status_code == 200, r.text
            mallory_tn.send_raw("".join(f"x{k}.{i}\r\n" for i in range(BURST)).encode())
            mallory_irc.send(*[f"PRIVMSG #hall :y{k}.{i}" for i in range(BURST)], f"PING :m{k}")
            await mallory_irc.expect(f"PONG torbit m{k}")
            irc_refused = sum(" 404 mallory #hall " in line for line in mallory_irc.lines)
            mallory_irc.lines.clear()
            await mallory_tn.expect(r"^! you are muted in #hall")
            r = await alice.post("/api/v1/rooms/hall/messages", json={"text": f"end{k}"})
            assert r.status_code == 201, r.text
            await rita.expect(rf"<alice> end{k}$")
            assert (await alice.delete("/api/v1/rooms/hall/mutes/mallory")).status_code == 204
            refusals.append(irc_refused)
    stored = [m.text for m in await core.message_log.read("hall", limit=1000)]
    late = [t for t in stored if t[0] in "xy"]
    heard = [line for line in rita.seen if re.search(r"<mallory> [xy]\d", line)]
    print(
        f"runs {counts['runs']}: stored {len(stored)}, after the mutes' answers {late};"
        f" IRC 404s by round {refusals}"
    )
    assert late == [] and heard == []
    assert all(refusals), refusals  # (IRC answers a few errors a command, pacing.py)


async def test_a_reader_leaving_between_runs_hears_no_more_of_them(
    make_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """alice pipelines runs into #hall; bob's telnet session switches to #den and his IRC
    session PARTs #hall, one run on its way at each, and two more runs follow; then both
    come back; 4 times. Between the switch's answer (the PART line) and the way back, no
    line of #hall reaches either."""
    counts = count_runs(monkeypatch)
    app = await open_hall(await make_server(), "rita")
    await member(app, "rita")
    async with api(app, "alice") as alice_http:
        await create_room(alice_http, "den")
    rita = await in_hall(app, "rita")
    alice = await joined(app, "alice", "hall", password=PASSWORD)
    bob_tn = await in_hall(app, "bob")
    bob_irc = await joined(app, "bob", "hall", password=PASSWORD)
    away: list[int] = []
    for k in range(4):
        burst(None, alice, f"{k}b")
        await heard(rita, f"{k}b", both=False)
        burst(None, alice, f"{k}k")  # on its way as bob goes
        bob_tn.send("/join den")
        bob_irc.send("PART #hall")
        await bob_tn.expect(r"^\* you are (already )?in #den")
        await bob_irc.expect(" PART #hall")
        start_tn, start_irc = len(bob_tn.seen), len(bob_irc.lines)
        for j in range(2):
            burst(None, alice, f"{k}a{j}")
            await heard(rita, f"{k}a{j}", both=False)
        await command(bob_tn, "/join hall", r"^\* (you are|back) in #hall")
        bob_irc.send("JOIN #hall")
        await bob_irc.expect(" JOIN #hall")
        back_tn, back_irc = len(bob_tn.seen) - 1, len(bob_irc.lines) - 1
        late = said(bob_tn.seen[start_tn:back_tn], "alice")
        late += said(bob_irc.lines[start_irc:back_irc], "alice")
        away.append(len(late))
        assert late == [], (k, late[:5])
        await bob_irc.expect(" 366 bob #hall ")
    print(f"runs {counts['runs']}: lines of #hall heard away from it, by round: {away}")
    assert away == [0, 0, 0, 0] and counts["runs"] > 0
