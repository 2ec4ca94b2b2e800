"""bench/loop_turns.py: a perf recording of a server's main thread cut into its event loop's
turns, libuv's re-polls (a full 1,024-event array polled again at once, timeout 0) counted in
the turn that made them (bench/JOURNAL.md, "Stop 59")."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from loop_turns import turns

ENTER = "{t}: syscalls:sys_enter_epoll_pwait: epfd: 0x00000004, events: 0x7ffc, maxevents: 0x00000400, timeout: {timeout}, sigmask: 0x00000000, sigsetsize: 0x00000008     7f00 epoll_pwait"
EXIT = "{t}: syscalls:sys_exit_epoll_pwait: {ret}     7f00 epoll_pwait"


def recording() -> list[str]:
    return [
        ENTER.format(t="100.000000", timeout="0xffffffff"),  # blocks: a turn starts
        EXIT.format(t="100.001000", ret="0x400"),  # a full array
        "100.001100: syscalls:sys_exit_read: 0x0     7f00 read",  # an EOF
        "100.001200: syscalls:sys_exit_read: 0x5     7f00 read",
        "100.001300: cpu-clock/freq=4000/:  ffffffff81000000 tcp_poll",
        ENTER.format(t="100.002000", timeout="0x00000000"),  # libuv polls again: same turn
        EXIT.format(t="100.002100", ret="0x3"),
        "100.002200: syscalls:sys_enter_epoll_ctl: epfd: 0x00000004, op: 0x00000002     7f00 epoll_ctl",
        "100.002300: syscalls:sys_exit_read: 0x0     7f00 read",
        "100.002400: cpu-clock/freq=4000/:      7f0000001000 _PyEval_EvalFrameDefault",
        ENTER.format(t="100.003000", timeout="0x00000000"),  # 3 < 1,024: the next turn
        EXIT.format(t="100.003100", ret="0x0"),
        "100.003200: syscalls:sys_enter_close: fd: 0x00000009     7f00 syscall",
        "100.004000: cpu-clock/freq=4000/:      7f0000001000 _PyEval_EvalFrameDefault",
    ]


def test_a_full_array_polled_again_is_one_turn() -> None:
    first, second = turns(recording())
    assert (first.polls, first.events, first.eofs, first.epoll_ctl, first.closes) == (
        2,
        1027,
        2,
        1,
        0,
    )
    assert (first.kernel, first.user) == (1, 1)
    assert (first.start, first.end) == (100.0, 100.003)
    assert (second.polls, second.events, second.eofs, second.closes) == (1, 0, 0, 1)
    assert (second.kernel, second.user, second.end) == (0, 1, 100.004)


def test_nothing_before_the_first_poll_counts() -> None:
    lines = ["99.0: syscalls:sys_exit_read: 0x0     7f00 read", *recording()]
    assert sum(t.eofs for t in turns(lines)) == 2
