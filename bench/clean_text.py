"""What cleaning a message costs (core/text.py, on every message and topic sent), against a
reference that only replaces control characters (what clean_text did before it also removed
invisible format characters and long blank runs), measured in the same run.

    .venv/bin/python bench/clean_text.py [--repeat 7] [--calls 20000]

Prints a markdown table: median and worst of the repeats, in µs per call, and the ratio of
medians. Texts: the kinds a chat sees (short and long ASCII, accented and CJK text, emoji with
and without ZWJ sequences) and the attack texts that take the slow path."""

from __future__ import annotations

import argparse
import re
import statistics
import time
from collections.abc import Callable

from torbit.core.text import clean_text

_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def reference(text: str, max_bytes: int) -> str:
    text = _CONTROL.sub("\ufffd", text).rstrip()
    if not text.strip() or len(text.encode()) > max_bytes:
        raise ValueError(text[:20])
    return text


TEXTS = {
    "ASCII, 19 B": "hi there, all good?",
    "ASCII, 365 B": "hello world this is a normal chat message, nothing special in it at all. " * 5,
    "accents + CJK, 264 chars": "café naïve 你好 world " * 12,
    "emoji, 60 chars": "great \U0001f600\U0001f44d see you \U0001f389 " * 3,
    "emoji ZWJ sequences, 60 chars": "great \U0001f600 see you \U0001f469\u200d\U0001f4bb " * 3,
    "attack: bidi override": "ok\u202e!nwod gniog si revres\u202c " * 5,
    "attack: padded forgery, 400 B": "ok" + " " * 300 + "[12:00:00] <admin> log in again",
    "attack: stacked marks, 120 on a letter": "z" + "\u0301\u0316\u0489\u20dd" * 30 + "algo",
    "attack: astral marks, 100 on a letter": "z" + "\U0001e000\U0001d17b" * 50 + "algo",
    "attack: tag smuggling": "ok " + "".join(chr(0xE0000 + ord(c)) for c in "ignore this") * 8,
}


def per_call(f: Callable[[str, int], str], text: str, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        f(text, 1 << 20)
    return (time.perf_counter() - start) / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--calls", type=int, default=20000)
    args = parser.parse_args()
    print("| text | reference µs (median, worst) | clean_text µs (median, worst) | ratio |")
    print("|---|---:|---:|---:|")
    for name, text in TEXTS.items():
        runs: dict[str, list[float]] = {"ref": [], "new": []}
        for i in range(args.repeat):  # alternate which goes first
            order = (("ref", reference), ("new", clean_text))
            for key, f in order if i % 2 == 0 else order[::-1]:
                runs[key].append(per_call(f, text, args.calls))
        ref, new = statistics.median(runs["ref"]), statistics.median(runs["new"])
        print(
            f"| {name} | {ref:.2f} ({max(runs['ref']):.2f}) | {new:.2f} "
            f"({max(runs['new']):.2f}) | {new / ref:.2f} |"
        )


if __name__ == "__main__":
    main()
