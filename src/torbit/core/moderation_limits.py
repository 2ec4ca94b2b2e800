"""What moderators write is bounded: a mute's length, a topic's and a kick's or ban's reason
(the same on every door: IRC advertises TOPICLEN and KICKLEN)."""

from __future__ import annotations

from torbit.core.text import clean_cut
from torbit.errors import InvalidInput

MAX_MUTE_MINUTES = 30 * 24 * 60
# What is longer is cut, on every door (IRC advertises both: TOPICLEN, KICKLEN). Both fit
# the longest IRC line that carries them: ":" + nick!ident@host (32 + 1 + 32 + 1 + 10) +
# " TOPIC " + "#" + 32 + " :" + topic + CR LF is 121 bytes and the topic; a KICK line, which
# also names the nick, 153 and the reason; the limit is 512 (protocol/irc.py).
MAX_TOPIC_BYTES = 390
MAX_KICK_REASON_BYTES = 255  # a kick's or a ban's reason


def clean_topic(text: str) -> str:
    """A topic fit to show on a line, cut to MAX_TOPIC_BYTES; empty clears it, and one that
    cleaning leaves empty is refused (InvalidInput) rather than taken for a clear."""
    return clean_cut(text, MAX_TOPIC_BYTES) if text.strip() else ""


def clean_kick_reason(text: str) -> str:
    """A kick's or ban's reason, cleaned and cut to MAX_KICK_REASON_BYTES; one with nothing
    to show is no reason."""
    try:
        return clean_cut(text, MAX_KICK_REASON_BYTES) if text.strip() else ""
    except InvalidInput:
        return ""
