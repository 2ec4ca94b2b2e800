"""argon2id through libsodium (PyNaCl) or argon2-cffi, whichever costs this machine less.

Why two libraries: libsodium chooses its argon2 kernel for the CPU at run time (SSSE3, AVX2,
AVX-512F), and hashes about twice as fast as argon2-cffi's build. Two threads hashing on the
2-core Xeon of the benchmarks (bench/argon2_kernels.py, docs/benchmarks.md "Stop 43"): at
torbit's default cost (t=3, 64 MiB) 20.2 hashes/s against argon2-cffi's 10.7 (one lane) and
10.2 (four); at the bench's cheap cost (t=1, 8 MiB) 684 against 474. A login's hash is most
of its CPU: logins/s rose 12 % at the cheap cost and doubled at the default one.

Why not always libsodium: it maps its memory afresh for every hash (2,048 page faults at
8 MiB), where argon2-cffi's `malloc` reuses what the last hash freed (below glibc's 32 MiB
mapping bound). How much a fault costs is the machine's: 0.7 µs on that Xeon, 1.9 µs on the
2-core AMD EPYC virtual machine of stop 62, where a cheap hash took libsodium 5.8–6.2 ms of
CPU (3.8–4.3 of it the kernel's) and argon2-cffi 4.2–4.6 ms, while at the default cost
libsodium still won (115–120 ms against 130–175). So `engine="auto"` (the configured
default) measures both once per cost, on the thread's CPU clock, and hashes with the
cheaper (`_cheaper_engine`).

Both read and write the same PHC strings (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`): a hash
made by either verifies with the other, and stored hashes need no migration. libsodium
computes one lane (p=1) with a 16-byte salt and a 32-byte hash; any other hash (more lanes,
argon2i or argon2d, other lengths, a salt given) is made and checked by argon2-cffi as
before. `Argon2id` is argon2-cffi's PasswordHasher with those two paths, so its errors,
parameters and `check_needs_rehash` are argon2-cffi's own."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Literal

from argon2 import PasswordHasher, Type, extract_parameters
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from argon2.low_level import ARGON2_VERSION, hash_secret_raw
from nacl import pwhash
from nacl.exceptions import InvalidkeyError

SALT_BYTES = 16
HASH_BYTES = 32
VERSION = 19
MAX_SODIUM_STRING = 127  # PyNaCl's bound on a stored string it verifies

Engine = Literal["auto", "libsodium", "argon2-cffi"]


def _sodium_fits(kind: Type, version: int, lanes: int, salt: int, digest: int) -> bool:
    """libsodium's argon2id computes exactly this shape of hash."""
    return (kind, version, lanes, salt, digest) == (Type.ID, VERSION, 1, SALT_BYTES, HASH_BYTES)


def _b64_chars(size: int) -> int:
    """How many characters unpadded base64 (a PHC string's salt and hash) takes for `size` bytes."""
    return (4 * size + 2) // 3


def _utf8(text: str | bytes) -> bytes:
    return text.encode() if isinstance(text, str) else text


def _cpu_of(run: Callable[[], object]) -> float:
    """The calling thread's CPU time (user and kernel: page faults count) of one run."""
    start = time.thread_time()
    run()
    return time.thread_time() - start


def _measure(time_cost: int, memory_kib: int) -> tuple[float, float]:
    """CPU seconds of one hash of each library at this cost (the least of two runs each):
    libsodium's, argon2-cffi's. argon2-cffi runs once first: its memory, `malloc`'s, is
    mapped the first time and reused after (libsodium maps it every time)."""
    salt, password = os.urandom(SALT_BYTES), b"torbit-engine-choice"

    def sodium() -> None:
        pwhash.argon2id.kdf(
            HASH_BYTES, password, salt, opslimit=time_cost, memlimit=memory_kib * 1024
        )

    def cffi() -> None:
        hash_secret_raw(password, salt, time_cost, memory_kib, 1, HASH_BYTES, Type.ID)

    cffi()
    runs = [(_cpu_of(sodium), _cpu_of(cffi)) for _ in range(2)]
    return min(s for s, _ in runs), min(c for _, c in runs)


_chosen: dict[tuple[int, int], bool] = {}  # (time cost, KiB) -> libsodium is the cheaper
_choosing = threading.Lock()


def _cheaper_engine(
    time_cost: int,
    memory_kib: int,
    measure: Callable[[int, int], tuple[float, float]] = _measure,
) -> bool:
    """Whether libsodium hashes at this cost in less CPU than argon2-cffi here: measured
    once a process and cost (at torbit's default cost ~0.6 s of one thread, at the first
    hash), under a lock so two workers' first hashes do not measure twice at once."""
    with _choosing:
        known = _chosen.get((time_cost, memory_kib))
        if known is None:
            sodium, cffi = measure(time_cost, memory_kib)
            known = _chosen[(time_cost, memory_kib)] = sodium <= cffi
        return known


class Argon2id(PasswordHasher):
    """argon2-cffi's PasswordHasher, hashing and verifying through libsodium where it can
    and `engine` wants it ("auto": where it costs less, `_cheaper_engine`)."""

    def __init__(
        self, time_cost: int, memory_cost: int, parallelism: int, engine: Engine = "libsodium"
    ) -> None:
        super().__init__(time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism)
        self.engine: Engine = engine
        fits = _sodium_fits(self.type, VERSION, parallelism, self.salt_len, self.hash_len)
        self.sodium = fits and engine != "argon2-cffi"
        # what every hash made with these parameters begins with, and its salt's and hash's
        # lengths (`check_needs_rehash`)
        self._own = (
            f"$argon2{self.type.name.lower()}$v={ARGON2_VERSION}"
            f"$m={memory_cost},t={time_cost},p={parallelism}$"
        )
        self._own_lengths = (_b64_chars(self.salt_len), _b64_chars(self.hash_len))

    def check_needs_rehash(self, hash: str | bytes) -> bool:
        """argon2-cffi's verdict. A stored hash made with these very parameters (this
        instance's own prefix, a salt and a hash of its lengths) is told so without
        argon2-cffi's parse: every successful password check asks, on the event loop, right
        after the hash (a cold-Basic `GET /receive`: 26–39 µs, stop 60)."""
        if isinstance(hash, str) and hash.startswith(self._own):
            salt, sep, digest = hash[len(self._own) :].partition("$")
            if sep and "$" not in digest and (len(salt), len(digest)) == self._own_lengths:
                return False
        return super().check_needs_rehash(hash)

    def _by_sodium(self, time_cost: int, memory_kib: int) -> bool:
        """A hash of this cost that libsodium can compute goes to it (engine permitting)."""
        if self.engine == "auto":
            return _cheaper_engine(time_cost, memory_kib)
        return self.engine == "libsodium"

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        if not self.sodium or salt is not None:
            return super().hash(password, salt=salt)
        if not self._by_sodium(self.time_cost, self.memory_cost):
            return super().hash(password)
        made = pwhash.argon2id.str(
            _utf8(password), opslimit=self.time_cost, memlimit=self.memory_cost * 1024
        )
        return made.decode("ascii")

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        """True, or argon2-cffi's errors: VerifyMismatchError for another password,
        InvalidHashError for what is no argon2 hash."""
        stored = hash.encode() if isinstance(hash, str) else hash
        if not stored.isascii():  # argon2-cffi's own verify raised UnicodeEncodeError
            raise InvalidHashError
        try:
            p = extract_parameters(stored.decode("ascii"))
        except InvalidHashError:
            return super().verify(hash, password)  # says what is wrong with it
        fits = _sodium_fits(p.type, p.version, p.parallelism, p.salt_len, p.hash_len)
        if (
            not fits
            or len(stored) > MAX_SODIUM_STRING
            or not self._by_sodium(p.time_cost, p.memory_cost)
        ):
            return super().verify(hash, password)
        try:
            pwhash.argon2id.verify(stored, _utf8(password))
        except InvalidkeyError:  # another password, or a hash libsodium cannot read
            raise VerifyMismatchError("the password does not match the supplied hash") from None
        return True
