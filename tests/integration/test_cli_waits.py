"""`torbit user passwd` and `torbit user del` answer once every running node has closed the
user's sessions (their acts under way there ended first), as `set-admin --revoke` does
(tests/security/test_demotion_private_rooms.py): the running node confirms at once; a node
killed a moment ago (its mark fresh, never to move again) holds them at most --wait seconds,
then is named, exit 2 (cannot tell), the change made all the same."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.conftest import CHEAP_ARGON2, ServerFactory
from tests.helpers.cli import cli
from tests.helpers.http import PASSWORD, register
from tests.helpers.moderation import api, services
from tests.security.conftest import telnet_login
from torbit.app import App
from torbit.core.feedmarks import ALIVE_S

ALIVE = timedelta(seconds=ALIVE_S)


def env_of(app: App, tmp_path: Path) -> dict[str, str]:
    config = tmp_path / "cli.toml"
    config.touch()
    env = {"TORBIT_CONFIG": str(config), "TORBIT_STORAGE__URL": app.settings.storage.url}
    env.update({f"TORBIT_ACCOUNTS__{k.upper()}": str(v) for k, v in CHEAP_ARGON2.items()})
    return env


async def test_passwd_and_del_wait_for_the_node_and_name_a_silent_one(
    make_server: ServerFactory, tmp_path: Path
) -> None:
    app = await make_server()
    async with api(app, "alice") as a:
        await register(a, "alice", "bob", "carol")
    env = env_of(app, tmp_path)
    bob = await telnet_login(app, "bob")
    applied = services(app).sessions.revocations
    done = await asyncio.to_thread(cli, env, "user", "passwd", "bob", "--password-stdin",
                                   stdin="another-pw\n")  # fmt: skip
    assert done.returncode == 0 and "password of bob changed" in done.stdout, done
    # answered once the node applied it: bob's session there was closed by then
    assert services(app).sessions.revocations > applied
    await bob.expect("your password was changed")
    await bob.close()

    store = services(app).store
    await store.mark_applied("killed-just-now", await store.last_revocation(), datetime.now(UTC))
    async with asyncio.timeout(30):
        done = await asyncio.to_thread(cli, env, "user", "passwd", "alice", "--password-stdin",
                                       "--wait", "0.3", stdin=f"{PASSWORD}-2\n")  # fmt: skip
    assert done.returncode == 2, done
    assert "password of alice changed" in done.stdout, done
    # (the running node may be named too, had it not polled within the 0.3 s)
    assert "not confirmed within 0.3 s by" in done.stderr, done
    assert "killed-just-now (behind)" in done.stderr, done
    async with asyncio.timeout(30):
        done = await asyncio.to_thread(cli, env, "user", "del", "carol", "--yes", "--wait", "0.3")
    assert done.returncode == 2 and "deleted user carol" in done.stdout, done
    assert "killed-just-now" in done.stderr, done
    assert await store.get_user("carol") is None


async def test_a_node_stopped_cleanly_is_not_waited_for(
    make_server: ServerFactory, tmp_path: Path
) -> None:
    """A node's clean stop dates its mark back (`Revocations.goodbye`): a CLI run just after
    answers at once, the stopped node not named (before, it held the CLI its --wait, exit
    2, naming it: an operator's restart cost every demotion of the next 15 s that)."""
    first = await make_server(data_dir=tmp_path / "node")
    async with api(first, "alice") as a:
        await register(a, "alice", "bob")
    [gone] = await services(first).store.nodes_applied(datetime.now(UTC) - ALIVE)  # its id
    env = env_of(first, tmp_path)
    await first.stop()
    again = await make_server(data_dir=tmp_path / "node")  # restarted: a new node id
    live = await services(again).store.nodes_applied(datetime.now(UTC) - ALIVE)
    assert gone not in live and len(live) == 1, (gone, live)  # the new node only
    done = await asyncio.to_thread(cli, env, "user", "passwd", "bob", "--password-stdin",
                                   stdin="another-pw\n")  # fmt: skip
    assert done.returncode == 0 and "password of bob changed" in done.stdout, done
    assert gone not in done.stderr, done
