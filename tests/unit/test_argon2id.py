"""core/argon2id.py: libsodium and argon2-cffi make and read the same argon2id hashes, so a
password stored by either logs in through the other, and only the hashes libsodium computes
go its way."""

from __future__ import annotations

import functools
from typing import Any

import pytest
from argon2 import PasswordHasher, Type, extract_parameters
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from hypothesis import given, settings
from hypothesis import strategies as st
from nacl import pwhash

from torbit.core import argon2id
from torbit.core.argon2id import Argon2id
from torbit.core.hashing import PasswordHashing

CHEAP = (1, 8, 1)  # t, KiB, lanes: the least argon2 takes


def cffi(lanes: int = 1, kind: Type = Type.ID) -> PasswordHasher:
    return PasswordHasher(time_cost=1, memory_cost=8 * lanes, parallelism=lanes, type=kind)


@pytest.fixture
def sodium_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The real libsodium functions, each call noted."""
    calls: list[str] = []
    made, checked = pwhash.argon2id.str, pwhash.argon2id.verify

    def str_(*args: Any, **kwargs: Any) -> bytes:
        calls.append("hash")
        return made(*args, **kwargs)

    def verify(*args: Any, **kwargs: Any) -> bool:
        calls.append("verify")
        return checked(*args, **kwargs)

    monkeypatch.setattr(pwhash.argon2id, "str", str_)
    monkeypatch.setattr(pwhash.argon2id, "verify", verify)
    return calls


@settings(max_examples=40, deadline=None)
@given(password=st.text(max_size=40), other=st.text(max_size=40))
def test_each_library_reads_the_others_hashes(password: str, other: str) -> None:
    ours, theirs = Argon2id(*CHEAP), cffi()
    made_here, made_there = ours.hash(password), theirs.hash(password)
    assert made_here.startswith("$argon2id$v=19$m=8,t=1,p=1$")
    assert theirs.verify(made_here, password) and ours.verify(made_there, password)
    assert ours.verify(made_here.encode(), password.encode())
    if other != password:
        for hasher, made in ((theirs, made_here), (ours, made_there), (ours, made_here)):
            with pytest.raises(VerifyMismatchError):
                hasher.verify(made, other)


def test_one_lane_goes_through_libsodium_and_the_rest_through_argon2_cffi(
    sodium_calls: list[str],
) -> None:
    one = Argon2id(*CHEAP)
    assert one.sodium
    stored = one.hash("secret")
    assert one.verify(stored, "secret")
    assert sodium_calls == ["hash", "verify"]
    four = Argon2id(1, 32, 4)
    assert not four.sodium
    for made in (
        four.hash("secret"),
        cffi(kind=Type.I).hash("secret"),
        one.hash("s", salt=b"s" * 8),
    ):
        assert one.verify(made, "secret" if "p=4" in made or "argon2i$" in made else "s")
    assert sodium_calls == ["hash", "verify"]  # none of those went to libsodium


def test_what_is_no_hash_is_refused_as_argon2_cffi_refuses_it() -> None:
    ours = Argon2id(*CHEAP)
    good = ours.hash("secret")
    for bad in ("", "secret", "$argon2id$v=19$m=8,t=1,p=1$", good[:-5], "é" + good):
        with pytest.raises((InvalidHashError, VerificationError)):
            ours.verify(bad, "secret")
    tampered = good[:-2] + ("AA" if good[-2:] != "AA" else "BB")
    with pytest.raises(VerifyMismatchError):
        ours.verify(tampered, "secret")


def test_a_hash_of_other_costs_asks_to_be_made_again() -> None:
    ours = Argon2id(*CHEAP)
    assert not ours.check_needs_rehash(ours.hash("secret"))
    assert ours.check_needs_rehash(Argon2id(1, 32, 4).hash("secret"))
    assert ours.check_needs_rehash(Argon2id(2, 8, 1).hash("secret"))


def _verdict(hasher: PasswordHasher, stored: str | bytes) -> bool | str:
    try:
        return hasher.check_needs_rehash(stored)
    except Exception as e:  # the same error is the same verdict
        return type(e).__name__


def test_needs_rehash_says_what_argon2_cffi_says() -> None:
    """The verdict on a hash of our own parameters is told without argon2-cffi's parse
    (stop 60): for any stored string it is the one argon2-cffi gives."""
    ours = Argon2id(*CHEAP)
    theirs = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    own = ours.hash("secret")
    prefix, salt, digest = own.rsplit("$", 2)
    cases: list[str | bytes] = [
        own,
        own.encode(),
        theirs.hash("secret"),  # argon2-cffi's own build, the same parameters
        Argon2id(1, 32, 4).hash("secret"),
        Argon2id(2, 8, 1).hash("secret"),
        PasswordHasher(1, 8, 1, salt_len=8).hash("secret"),
        PasswordHasher(1, 8, 1, hash_len=16).hash("secret"),
        PasswordHasher(1, 8, 1, type=Type.I).hash("secret"),
        own.replace("$v=19", ""),  # argon2 1.2's form: version 18
        own.replace("m=8,t=1,p=1", "t=1,m=8,p=1"),
        f"{prefix}${salt}${digest}$",
        f"{prefix}${salt}${digest[:-1]}$",
        f"{prefix}${salt}x${digest[:-1]}",
        f"{prefix}${salt}",
        f"{prefix}$${digest}",
        f"{prefix}${salt[:-1]}${digest}",
        f"{prefix}${salt}${digest}A",
        own[:-1],
        "",
        "$argon2id$v=19$m=8,t=1,p=1$",
    ]
    for stored in cases:
        assert _verdict(ours, stored) == _verdict(theirs, stored), stored


def test_a_hash_of_our_own_parameters_is_not_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every successful password check asks `check_needs_rehash` on the event loop, right
    after the hash: a hash of the configured parameters is told so by its prefix and
    lengths, not by argon2-cffi's `extract_parameters` (26–39 µs there, stop 60)."""
    import argon2._password_hasher as cffi_hasher

    parsed: list[str] = []
    real = extract_parameters

    def counted(stored: str) -> Any:
        parsed.append(stored)
        return real(stored)

    monkeypatch.setattr(cffi_hasher, "extract_parameters", counted)
    ours = Argon2id(*CHEAP)
    assert not ours.check_needs_rehash(ours.hash("secret"))
    assert parsed == []
    other = Argon2id(2, 8, 1).hash("secret")
    assert ours.check_needs_rehash(other)
    assert parsed == [other]


def test_base64_lengths_are_argon2_cffis() -> None:
    from argon2._utils import _decoded_str_len

    from torbit.core.argon2id import _b64_chars

    for size in range(1, 100):
        assert _decoded_str_len(_b64_chars(size)) == size


async def test_the_pool_hashes_and_checks_through_it(sodium_calls: list[str]) -> None:
    pool = PasswordHashing(Argon2id(*CHEAP), workers=2, queue=4)
    try:
        stored = await pool.hash("secret")
        assert await pool.verify(stored, "secret") is True
        assert await pool.verify(stored, "wrong") is False
        assert await pool.verify("no hash at all", "secret") is False
        assert sodium_calls == ["hash", "verify", "verify"]
    finally:
        pool.close()


def test_argon2_cffi_engine_never_calls_libsodium(sodium_calls: list[str]) -> None:
    """`argon2_engine = "argon2-cffi"`: a one-lane hash libsodium could compute is made and
    checked by argon2-cffi, and reads as any other (stop 62)."""
    ours = Argon2id(*CHEAP, "argon2-cffi")
    assert not ours.sodium
    stored = ours.hash("secret")
    assert ours.verify(stored, "secret")
    with pytest.raises(VerifyMismatchError):
        ours.verify(stored, "wrong")
    assert ours.verify(Argon2id(*CHEAP).hash("secret"), "secret")
    assert sodium_calls == ["hash"]  # the libsodium instance's own hash, nothing else
    assert Argon2id(*CHEAP).verify(stored, "secret")
    assert sodium_calls == ["hash", "verify"]


def test_auto_measures_once_a_cost_and_keeps_the_cheaper(monkeypatch: pytest.MonkeyPatch) -> None:
    """The choice follows the measured CPU of each library, asked once a cost."""
    monkeypatch.setattr(argon2id, "_chosen", {})
    asked: list[tuple[int, int]] = []

    def measured(time_cost: int, memory_kib: int) -> tuple[float, float]:
        asked.append((time_cost, memory_kib))
        return (0.0060, 0.0043) if memory_kib == 8192 else (0.118, 0.140)

    assert argon2id._cheaper_engine(1, 8192, measured) is False
    assert argon2id._cheaper_engine(1, 8192, measured) is False
    assert argon2id._cheaper_engine(3, 65536, measured) is True
    assert asked == [(1, 8192), (3, 65536)]


def test_auto_hashes_through_the_library_it_measured_cheaper(
    monkeypatch: pytest.MonkeyPatch, sodium_calls: list[str]
) -> None:
    """Real measurements, from eight threads' first hashes at once: one measurement, and
    every hash and check after goes the way it chose."""
    import threading

    monkeypatch.setattr(argon2id, "_chosen", {})
    measurements: list[tuple[float, float]] = []
    real = argon2id._measure

    def noted(time_cost: int, memory_kib: int) -> tuple[float, float]:
        measurements.append(real(time_cost, memory_kib))
        return measurements[-1]

    monkeypatch.setattr(
        argon2id, "_cheaper_engine", functools.partial(argon2id._cheaper_engine, measure=noted)
    )
    ours = Argon2id(1, 16, 1, "auto")
    stored: list[str] = []
    threads = [
        threading.Thread(target=lambda: stored.append(ours.hash("secret"))) for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(measurements) == 1 and all(cpu > 0 for cpu in measurements[0])
    sodium, cffi = measurements[0]
    assert argon2id._chosen == {(1, 16): sodium <= cffi}
    assert all(ours.verify(made, "secret") for made in stored)
    assert sodium_calls == (["hash"] * 8 + ["verify"] * 8 if sodium <= cffi else [])
