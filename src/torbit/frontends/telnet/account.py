"""The telnet door's commands about oneself: the away state every door shares, and
leaving."""

from __future__ import annotations

from torbit.frontends.telnet.command_session import CommandSession, info


async def away(session: CommandSession, args: tuple[str, ...]) -> None:
    """The away state every door and node shares (core/away.py): IRC's WHOIS and AWAY replies
    show it, and the rooms the user is in are told (IRC away-notify, the WebSocket)."""
    state = await session.core.away.set(session.user_key, args[0] if args else None, session)
    info(session, f"you are marked away: {state}" if state else "you are back")


async def quit_(session: CommandSession, args: tuple[str, ...]) -> None:
    info(session, "bye")
    session.close("quit")
