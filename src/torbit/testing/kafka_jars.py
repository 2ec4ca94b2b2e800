"""The Apache Kafka jars for tests and benchmarks, resolved by Maven from Maven Central.

`deploy/kafka/pom.xml` names the Kafka version (and the Log4j binding); `resolve()` has Maven
copy the broker and its runtime jars into `~/.cache/torbit/kafka-<version>/lib` once, and finds
them there afterwards (the pom's digest is kept next to them, so editing the pom resolves
again). Several test processes may ask at once: a file lock makes the others wait for the
first. `TORBIT_KAFKA_LIB` points at a folder of jars resolved some other way (a Kafka
distribution's `libs/`) and skips Maven altogether.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from torbit.testing.maven import copy_dependencies, locked

LIB_ENV = "TORBIT_KAFKA_LIB"
POM_ENV = "TORBIT_KAFKA_POM"
_POM_NS = {"m": "http://maven.apache.org/POM/4.0.0"}
_MAIN_JAR = "kafka_2.13-{version}.jar"


class KafkaMissing(RuntimeError):
    """Java, Maven or the pom is missing, or Maven could not resolve the jars."""


@dataclass(frozen=True)
class KafkaJars:
    """A folder of resolved jars, and where a class-data archive of them may be kept."""

    version: str
    lib: Path

    @property
    def classpath(self) -> str:
        return str(self.lib / "*")

    @property
    def class_archive(self) -> Path:
        """A JVM class-data-sharing archive of the broker's classes (see kafka.py): it makes
        a broker start in about half the CPU time. Next to `lib`, made on first use."""
        return self.lib.parent / "classes.jsa"


def default_pom() -> Path:
    """deploy/kafka/pom.xml of the source tree this package runs from (an editable install)."""
    configured = os.environ.get(POM_ENV)
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[3] / "deploy" / "kafka" / "pom.xml"


def pom_version(pom: Path) -> str:
    """The `kafka.version` property of the pom."""
    try:
        root = ET.parse(pom).getroot()
    except (OSError, ET.ParseError) as e:
        raise KafkaMissing(f"cannot read {pom}: {e} (set ${POM_ENV} or ${LIB_ENV})") from e
    version = root.findtext("m:properties/m:kafka.version", namespaces=_POM_NS)
    if not version:
        raise KafkaMissing(f"{pom} has no <kafka.version> property")
    return version.strip()


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "torbit"


def java() -> str:
    """The `java` to run: $JAVA_HOME/bin/java, else the one on PATH (17 or newer)."""
    home = os.environ.get("JAVA_HOME")
    if home and os.access(Path(home) / "bin" / "java", os.X_OK):
        return str(Path(home) / "bin" / "java")
    found = shutil.which("java")
    if found is None:
        raise KafkaMissing(
            "no java on PATH: Apache Kafka needs Java 17+ (apt-get install openjdk-17-jre-headless)"
        )
    return found


def resolve(pom: Path | None = None) -> KafkaJars:
    """The jars of the pom's Kafka version, resolved by Maven the first time (a minute or so,
    most of it downloading ~45 MB) and found in the cache afterwards."""
    configured = os.environ.get(LIB_ENV)
    if configured:
        lib = Path(configured)
        found = sorted(lib.glob("kafka_2.13-*.jar"))
        if not found:
            raise KafkaMissing(f"${LIB_ENV}={configured}: no kafka_2.13-*.jar in it")
        version = found[-1].name.removeprefix("kafka_2.13-").removesuffix(".jar")
        return KafkaJars(version, lib)
    pom = pom or default_pom()
    version = pom_version(pom)
    home = cache_root() / f"kafka-{version}"
    jars = KafkaJars(version, home / "lib")
    digest = hashlib.sha256(pom.read_bytes()).hexdigest()
    stamp = home / "pom.sha256"
    if _complete(jars, stamp, digest):
        return jars
    home.mkdir(parents=True, exist_ok=True)
    with locked(home.parent / f"kafka-{version}.lock"):
        if _complete(jars, stamp, digest):  # another process resolved it meanwhile
            return jars
        _copy_dependencies(pom, home)
        stamp.write_text(digest + "\n")
        jars.class_archive.unlink(missing_ok=True)  # made for the old jars
    return jars


def _complete(jars: KafkaJars, stamp: Path, digest: str) -> bool:
    main = jars.lib / _MAIN_JAR.format(version=jars.version)
    return main.is_file() and stamp.is_file() and stamp.read_text().strip() == digest


def _copy_dependencies(pom: Path, home: Path) -> None:
    """mvn dependency:copy-dependencies into a fresh folder, renamed to lib/ once complete, so
    an interrupted run never leaves a half-filled lib/ behind."""
    mvn = shutil.which("mvn")
    if mvn is None:
        raise KafkaMissing(
            "no mvn on PATH: the Kafka jars are resolved by Maven (apt-get install maven)"
        )
    partial = home / f"lib.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    done = copy_dependencies(mvn, pom, partial)
    if done.returncode != 0:
        shutil.rmtree(partial, ignore_errors=True)
        raise KafkaMissing(
            f"Maven could not resolve {pom} ({done.returncode}):\n"
            f"{done.stdout[-3000:]}{done.stderr[-3000:]}"
        )
    shutil.rmtree(home / "lib", ignore_errors=True)
    partial.rename(home / "lib")
