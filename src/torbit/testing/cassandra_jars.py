"""Cassandra's jars for tests and bench (cassandra.py): resolved once with Maven from
deploy/cassandra/pom.xml into a cache folder, or taken from $TORBIT_CASSANDRA_LIB; and the
Java that runs them. Missing pieces raise CassandraMissing: a test never skips for them."""

from __future__ import annotations

import os
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

from torbit.testing.maven import copy_dependencies, locked

POM = Path(__file__).resolve().parents[3] / "deploy" / "cassandra" / "pom.xml"
LIB_ENV = "TORBIT_CASSANDRA_LIB"
CACHE_ENV = "TORBIT_CACHE"


class CassandraMissing(RuntimeError):
    """No Java, no Maven, or the jars could not be resolved: a test that needs Cassandra
    fails with this (it never skips)."""


def pom_version(pom: Path = POM) -> str:
    """The Cassandra version the pom resolves (one place to bump it)."""
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    found = ET.parse(pom).getroot().find("m:properties/m:cassandra.version", ns)
    if found is None or not (found.text or "").strip():
        raise CassandraMissing(f"{pom}: no <cassandra.version> property")
    return (found.text or "").strip()


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "torbit")


def resolve_jars(pom: Path = POM) -> Path:
    """The folder of Cassandra's jars, resolved with Maven on first use (about 20 s with an
    empty ~/.m2, 3 s from it) and kept in the cache. A lock file keeps concurrent test
    sessions from resolving into the same folder at once."""
    override = os.environ.get(LIB_ENV)
    if override:
        lib = Path(override)
        if not any(lib.glob("cassandra-all-*.jar")) and not any(lib.glob("apache-cassandra-*.jar")):
            raise CassandraMissing(f"${LIB_ENV}={override!r} holds no Cassandra jar")
        return lib
    if not pom.is_file():
        raise CassandraMissing(f"{pom} not found: set ${LIB_ENV} to a folder of Cassandra jars")
    home = cache_dir() / f"cassandra-{pom_version(pom)}"
    lib, done = home / "lib", home / "lib.complete"
    if done.exists():
        return lib
    home.mkdir(parents=True, exist_ok=True)
    with locked(home / "lock"):
        if done.exists():  # another session resolved them while we waited
            return lib
        mvn = shutil.which("mvn")
        if mvn is None:
            raise CassandraMissing("Maven (mvn) is not installed: apt-get install maven")
        shutil.rmtree(lib, ignore_errors=True)
        run = copy_dependencies(mvn, pom, lib)
        if run.returncode != 0 or not any(lib.glob("cassandra-all-*.jar")):
            raise CassandraMissing(
                f"resolving Cassandra's jars failed ({run.returncode}):\n"
                f"{run.stdout[-3000:]}{run.stderr[-3000:]}"
            )
        done.write_text(pom_version(pom) + "\n")
    return lib


def java_binary() -> str:
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not java or not os.access(java, os.X_OK):
        raise CassandraMissing(
            "no java: Cassandra 5.0 needs Java 11 or 17 (apt-get install openjdk-17-jre-headless)"
        )
    return java
