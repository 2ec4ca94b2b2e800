"""docs/irc.md's capability list and ISUPPORT tokens, and the README's IRC modes, are what a
live server announces: client authors configure from the docs."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tests.helpers.irc import RawIrc
from torbit.app import App

ROOT = Path(__file__).resolve().parents[2]
IRC_MD = ROOT / "docs" / "irc.md"
README = ROOT / "README.md"
# the ISUPPORT tokens irc.md states with a value (`CHANNELLEN=33`, `MAXLIST=b:100,e:100,I:100`)
TOKEN = re.compile(r"\b([A-Z]{4,})=([^\s`;]+)")


def documented_caps(text: str) -> set[str]:
    """The backticked names of irc.md's **Capabilities** paragraph."""
    paragraph = text.split("**Capabilities**:", 1)[1].split("With `extended-join`", 1)[0]
    return {c.split("=")[0] for c in re.findall(r"`([a-z][a-z0-9/-]*(?:=[a-z-]+)?)`", paragraph)}


def documented_tokens(text: str) -> dict[str, str]:
    out = {}
    for m in TOKEN.finditer(text):
        value = m.group(2).rstrip(",.:")
        while value.endswith(")") and value.count(")") > value.count("("):
            value = value[:-1].rstrip(",.:")  # the prose's closing parenthesis
        out[m.group(1)] = value
    return out


def test_the_doc_parsers() -> None:
    text = "**Capabilities**: `batch`, `sasl` (PLAIN), `a/b=c-d` when open. With `extended-join`"
    assert documented_caps(text) == {"batch", "sasl", "a/b"}
    assert documented_tokens("(`CHANNELLEN=33`, MAXLIST=b:100,e:100, else (PREFIX=(qov)~@+)") == {
        "CHANNELLEN": "33",
        "MAXLIST": "b:100,e:100",
        "PREFIX": "(qov)~@+",
    }


async def test_caps_isupport_and_modes_are_as_documented(app: App, cleanup: list[Any]) -> None:
    raw = await RawIrc.connect(app)
    cleanup.append(raw)
    raw.send("CAP LS 302")
    ls = await raw.expect(" CAP * LS ")
    await raw.register("docs")
    offered = {c.split("=")[0] for c in ls.split(" :", 1)[1].split()}
    assert offered == documented_caps(IRC_MD.read_text())

    isupport = dict(
        t.partition("=")[::2]
        for x in raw.lines
        if x.split(" ")[1] == "005"
        for t in x.split(" :", 1)[0].split(" ")[3:]
    )
    wrong = {
        k: (v, isupport.get(k))
        for k, v in documented_tokens(IRC_MD.read_text()).items()
        if k != "TARGMAX" and isupport.get(k) != v
    }
    assert wrong == {}
    assert "KICK:4" in isupport["TARGMAX"].split(",")  # "TARGMAX KICK:4" in irc.md

    lists, always, when_set, flags = isupport["CHANMODES"].split(",")
    settable = set(lists + always + when_set + flags) | set(isupport["PREFIX"][1:].split(")")[0])
    modes = re.search(r"`MODE ([+-][a-z](?:/[+-][a-z])*)`", README.read_text())
    assert modes is not None
    assert {m[1] for m in modes.group(1).split("/")} <= settable
