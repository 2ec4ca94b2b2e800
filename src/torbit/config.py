"""Configuration: one validated section per area, read from a TOML file with
`TORBIT_<SECTION>__<KEY>` environment overrides. Errors name the bad key."""

from __future__ import annotations

import difflib
import ipaddress
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal, cast, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from torbit.config_file import RENAMED_SECTIONS, check_file
from torbit.core.identity import DEFAULT_RESERVED_NAMES
from torbit.errors import ConfigError


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_networks(value: tuple[str, ...]) -> tuple[str, ...]:
    for entry in value:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ValueError(f"{entry!r} is not an IP address or network") from None
    return value


class TelnetConfig(Section):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(5000, ge=0, le=65535)
    login_timeout: float = Field(60.0, gt=0, description="seconds to log in before disconnect")
    max_output_buffer: int = Field(256 * 1024, ge=4096, description="bytes queued per client")
    # after a flush to 64+ clients (a broadcast), output waits this long to leave together
    # (docs/configuration.md); 0: every loop turn's output leaves at once
    flush_window_ms: float = Field(0.0, ge=0, le=1000)
    # false: the kernel joins a client's small writes while earlier ones are unacknowledged
    # (Nagle's algorithm, as InspIRCd); true: each write leaves at once (docs/configuration.md)
    tcp_nodelay: bool = False
    # the kernel's buffers per client (SO_SNDBUF, SO_RCVBUF; Linux doubles them), beside ours
    # (max_output_buffer, limits.input_rate); 0: autotuned, up to MBs (docs/configuration.md)
    send_buffer: int = Field(128 * 1024, ge=0, le=64 * 1024 * 1024)
    receive_buffer: int = Field(128 * 1024, ge=0, le=64 * 1024 * 1024)
    tls_port: int = Field(5001, ge=0, le=65535)
    tls_cert: str = ""  # PEM chain; TLS telnet listens on tls_port when cert and key are set
    tls_key: str = ""
    allow_plaintext_login: bool = True  # false: the plain port only points people to the TLS port
    # the plain port reads a PROXY protocol header (v1 or v2) from trusted_proxies, which
    # must send one; other addresses connect directly and must not (docs/operations.md)
    proxy_protocol: bool = False
    trusted_proxies: tuple[str, ...] = ()  # addresses or networks of the balancers

    _networks = field_validator("trusted_proxies")(classmethod(lambda cls, v: _check_networks(v)))


class HttpConfig(Section):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    max_body_bytes: int = Field(64 * 1024, ge=1024)
    token_ttl_hours: float = Field(24 * 7, gt=0)
    tls_cert: str = ""  # HTTPS (only) when cert and key are set
    tls_key: str = ""
    ws_max_queue: int = Field(
        1000, ge=16, description="frames queued per WebSocket client before it is dropped"
    )
    # as telnet.flush_window_ms, for WebSockets on uvicorn's transport (the fast path)
    ws_flush_window_ms: float = Field(0.0, ge=0, le=1000)
    # as telnet's, for each WebSocket's connection once it is upgraded (on uvicorn)
    ws_send_buffer: int = Field(128 * 1024, ge=0, le=64 * 1024 * 1024)
    ws_receive_buffer: int = Field(128 * 1024, ge=0, le=64 * 1024 * 1024)
    # a quiet WebSocket is pinged after this long, and dropped if its pong takes as long
    ws_keepalive_seconds: float = Field(20.0, gt=0, le=3600)
    body_timeout: float = Field(30.0, gt=0, description="seconds for a request body to arrive")
    send_timeout: float = Field(
        30.0, gt=0, description="seconds an answer may wait on a client that reads none of it"
    )
    # reverse proxies (addresses or networks) whose X-Forwarded-For/-Proto are believed
    trusted_proxies: tuple[str, ...] = ()
    # browser origins allowed besides the server's own (scheme://host[:port])
    allowed_origins: tuple[str, ...] = ()
    metrics_token: str = ""  # Bearer token for /metrics from other than loopback; "": none
    # FastAPI's own OpenTelemetry spans, metrics and logs, sent to the process's global
    # providers; off: merely asking whether one is set cost 6-10 µs of a ~250 µs POST /send
    opentelemetry: bool = False

    _networks = field_validator("trusted_proxies")(classmethod(lambda cls, v: _check_networks(v)))

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        out = []
        for entry in value:
            origin = entry.strip().rstrip("/").lower()
            scheme, sep, host = origin.partition("://")
            if scheme not in ("http", "https") or not sep or not host or "/" in host:
                raise ValueError(f"{entry!r} is not an origin like https://chat.example.com")
            out.append(origin)
        return tuple(out)

    @field_validator("metrics_token")
    @classmethod
    def _token(cls, value: str) -> str:
        if value and len(value) < 16:
            raise ValueError('use at least 16 characters, or "" for none')
        return value


class IrcConfig(Section):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(6667, ge=0, le=65535)
    tls_port: int = Field(6697, ge=0, le=65535)
    tls_cert: str = ""  # PEM chain; IRC over TLS listens on tls_port when cert and key are set
    tls_key: str = ""
    server_name: str = Field(
        "torbit", pattern=r"^[A-Za-z0-9][A-Za-z0-9.-]{0,62}$", description="the IRC server name"
    )
    server_description: str = Field(
        "torbit chat server", min_length=1, max_length=100, pattern=r"^[^\r\n\x00]*$"
    )  # what LINKS and WHOIS say of the server
    motd: str = "Welcome to torbit: the same rooms on IRC, telnet and the web."
    guests: bool = False  # true: connecting without an account, as a guest, is allowed
    registration_timeout: float = Field(60.0, gt=0, description="seconds to register")
    max_output_buffer: int = Field(256 * 1024, ge=4096, description="bytes queued per client")
    flush_window_ms: float = Field(0.0, ge=0, le=1000)  # as telnet.flush_window_ms
    tcp_nodelay: bool = False  # as telnet.tcp_nodelay
    send_buffer: int = Field(128 * 1024, ge=0, le=64 * 1024 * 1024)  # as telnet's
    receive_buffer: int = Field(128 * 1024, ge=0, le=64 * 1024 * 1024)
    proxy_protocol: bool = False  # as telnet.proxy_protocol, on the plain IRC port
    trusted_proxies: tuple[str, ...] = ()

    _networks = field_validator("trusted_proxies")(classmethod(lambda cls, v: _check_networks(v)))


class NodeConfig(Section):
    # on SIGTERM or `torbit node drain`: stop accepting, report not ready, ask clients to
    # reconnect elsewhere, and exit once they are gone or after this many seconds
    drain_seconds: float = Field(30.0, ge=0)
    # how long it reports not ready before it stops accepting and asks clients to leave: at
    # least the balancer's health-check interval, so they are not sent back to this node
    drain_delay_seconds: float = Field(1.0, ge=0)


class StorageConfig(Section):
    url: str = "sqlite:///torbit-data/torbit.db"
    # SQLite in WAL mode: "normal" keeps every acknowledged message through a crash or kill -9
    # of torbit (the commit is in the OS before the ack) and fsyncs at checkpoints; "full" also
    # survives power loss, at one fsync per group commit (measured ~4 ms p50 here, which
    # shows directly in delivery latency, as nothing is shown before it is committed).
    synchronous: Literal["full", "normal"] = "normal"
    # PostgreSQL: a statement unanswered this long (a frozen or cut-off server, a lock held
    # elsewhere) fails the request "storage unavailable" instead of hanging it
    command_timeout: float = Field(5.0, gt=0, le=86400, description="seconds")
    # Cassandra's consistency level for every read and write (lightweight transactions use
    # LOCAL_SERIAL, or SERIAL when this is not a LOCAL_ level). LOCAL_QUORUM: with 3 replicas,
    # reads see every acknowledged write and one node may be down; on a single node it is
    # the same as ONE.
    consistency: Literal["ONE", "TWO", "THREE", "QUORUM", "ALL", "LOCAL_ONE", "LOCAL_QUORUM"] = (
        "LOCAL_QUORUM"
    )


class MessageLogConfig(Section):
    url: str = "local"
    topic_prefix: str = "torbit"
    replication_factor: int = Field(1, ge=1)
    # How long the broker may hold a node's fetch when nothing is new. Apache Kafka answers as
    # soon as a record arrives, so a long wait adds no delivery latency and spares an idle
    # node its fetches (each names every partition it watches: a topic per room, and the
    # shared inbox topic's); but the first record of a channel newly watched on an idle
    # node waits up to this long. See the README, "Running on several machines".
    fetch_wait_ms: int = Field(5, ge=1, le=1000)
    # Partitions of the one topic every inbox (private messages) shares, keyed by recipient: a
    # node fetches at most this many for its users, however many. Fixed once the topic exists.
    inbox_partitions: int = Field(16, ge=1, le=1000)
    # Nodes sharing the log tell each other who is online in a heartbeat (what changed since
    # the last one); a node not heard from for presence_expiry_seconds is taken to be dead
    # and its users offline. Unused with the local log. See operations.md, "Presence".
    presence_heartbeat_seconds: float = Field(5.0, gt=0, le=3600)
    presence_expiry_seconds: float = Field(15.0, gt=0, le=86400)

    @field_validator("presence_expiry_seconds")
    @classmethod
    def _longer_than_a_beat(cls, value: float, info: ValidationInfo) -> float:
        beat = info.data.get("presence_heartbeat_seconds")
        if beat is not None and value <= beat:
            raise ValueError(f"must be more than presence_heartbeat_seconds ({beat:g} s)")
        return value


class ChatConfig(Section):
    default_room: str = "lobby"
    history_on_join: int = Field(20, ge=0, le=1000)
    retention_hours: float = Field(24, gt=0)
    registration: Literal["open", "closed"] = "open"
    max_message_bytes: int = Field(4096, ge=64, le=1024 * 1024)
    timezone: str = "UTC"
    presence_notices_max: int = Field(100, ge=0)  # join/leave notices only up to this many online
    # a user who disconnects is announced as gone only if not back within this (a page reload)
    presence_grace_seconds: float = Field(5.0, ge=0, le=300)
    # rooms with neither members nor messages are removed this long after their creation
    empty_room_grace_hours: float = Field(24.0, ge=0, description="0: never removed")


class AccountsConfig(Section):
    min_password_length: int = Field(6, ge=1)
    # argon2id cost: RFC 9106's low-memory profile (3 passes over 64 MiB) in one lane, which
    # libsodium hashes in half the CPU of four lanes through argon2-cffi (core/argon2id.py)
    argon2_time_cost: int = Field(3, ge=1)
    argon2_memory_kib: int = Field(65536, ge=8)
    argon2_parallelism: int = Field(1, ge=1, validate_default=True)  # see _memory_per_lane
    # which library hashes: "auto" measures libsodium and argon2-cffi once at the first hash
    # and keeps the one costing this machine less CPU (core/argon2id.py)
    argon2_engine: Literal["auto", "libsodium", "argon2-cffi"] = "auto"
    # password hashing pool: at most hash_workers hashes run at once (each holds
    # argon2_memory_kib), hash_queue more wait; beyond that a login or registration gets 503
    hash_workers: int = Field(2, ge=1)
    hash_queue: int = Field(32, ge=0)
    # names nobody may register (in any case, nor in a form that reads alike); the admin CLI may
    reserved_names: tuple[str, ...] = DEFAULT_RESERVED_NAMES

    @field_validator("argon2_parallelism")
    @classmethod
    def _memory_per_lane(cls, value: int, info: ValidationInfo) -> int:
        """argon2 needs 8 KiB per lane; else serve died at its first hash with a message
        ("Memory cost is too small") that named no key."""
        memory = info.data.get("argon2_memory_kib")
        if memory is not None and memory < 8 * value:
            raise ValueError(f"argon2_memory_kib ({memory}) must be at least 8 × this")
        return value


class LimitsConfig(Section):
    """Abuse limits; 0 disables a limit (benchmarks, trusted deployments)."""

    connections_per_ip: int = Field(100, ge=0)
    max_connections: int = Field(20000, ge=0)
    connection_rate: float = Field(
        10.0, ge=0, description="new connections a second from one address, on every door"
    )
    connection_burst: int = Field(60, ge=0)
    message_rate: float = Field(5.0, ge=0, description="messages per second per user, overall")
    message_burst: int = Field(20, ge=0)
    room_message_rate: float = Field(3.0, ge=0, description="per user in one room")
    room_message_burst: int = Field(10, ge=0)
    rooms_per_user: int = Field(100, ge=0, description="rooms a user belongs to or owns")
    # Actions that change state or reach others, per user (token buckets: rate per second,
    # burst). A normal user never meets them; a script flooding them does.
    join_rate: float = Field(0.2, ge=0, description="rooms joined as a new member, or left")
    join_burst: int = Field(20, ge=0)
    presence_rate: float = Field(0.5, ge=0, description="join/leave notices a user causes")
    presence_burst: int = Field(30, ge=0)
    invite_rate: float = Field(0.2, ge=0)
    invite_burst: int = Field(10, ge=0)
    invites_per_user: int = Field(
        100, ge=0, description="pending invitations one user holds: past it, one is dropped"
    )
    ignore_rate: float = Field(0.2, ge=0, description="ignore and unignore")
    ignore_burst: int = Field(20, ge=0)
    ignores_per_user: int = Field(1000, ge=0, description="users one ignore list may hold")
    topic_rate: float = Field(0.05, ge=0, description="topic and privacy changes")
    topic_burst: int = Field(5, ge=0)
    create_rate: float = Field(0.05, ge=0, description="rooms created")
    create_burst: int = Field(5, ge=0)
    away_rate: float = Field(0.1, ge=0, description="away set or cleared (told to every room)")
    away_burst: int = Field(10, ge=0)
    moderation_rate: float = Field(
        0.2, ge=0, description="kicks, bans, mutes, op/deop and their undoing (audited, told)"
    )
    moderation_burst: int = Field(30, ge=0)
    walk_rate: float = Field(
        0.2, ge=0, description="LIST, WHO by mask, /list: each walks every room or user"
    )
    walk_burst: int = Field(10, ge=0)
    token_rate: float = Field(
        0.05, ge=0, description="tokens issued per user (POST /api/v1/sessions): each is a row"
    )
    token_burst: int = Field(20, ge=0)
    password_change_rate: float = Field(0.01, ge=0, description="own password changes per user")
    password_change_burst: int = Field(5, ge=0)
    tokens_per_user: int = Field(
        100, ge=0, description="live bearer tokens per user: a new one revokes the oldest"
    )
    # login back-off (core/throttle.py): free failures per account from one address, per
    # address, and per account from addresses it never logged in from; then doubling waits
    login_free_attempts: int = Field(3, ge=0, description="failures before back-off starts")
    login_backoff_max: float = Field(300.0, ge=0)
    login_address_free_attempts: int = Field(20, ge=0)
    login_account_free_attempts: int = Field(100, ge=0)
    login_forget_after: float = Field(3600.0, gt=0, description="seconds without a failure")
    registrations_per_address: int = Field(5, ge=0, description="per hour, from one address")
    registrations_per_hour: int = Field(200, ge=0, description="in total")
    # IRC guests a minute per address (IPv6: its /64): no hash, but an account made and deleted
    guests_per_address: int = Field(20, ge=0, description="per minute, from one address")
    # input bytes per telnet or IRC connection (a bucket each, frontends/paced.py): past it,
    # not read until it refills (TCP pushes back on the client). Far above one pasting at the
    # message rate (20 lines of 4 KB at once, then 5/s: 20 KB/s); before login, a few hundred
    input_rate: int = Field(128 * 1024, ge=0, description="bytes a second per connection")
    input_burst: int = Field(256 * 1024, ge=1024)
    login_input_rate: int = Field(1024, ge=0, description="bytes a second before login")
    login_input_burst: int = Field(16 * 1024, ge=1024)
    # messages a user may read per second (pages of history, /receive, CHATHISTORY, ...):
    # a page asks for up to what is left; refused (429) only when nothing is
    read_rate: float = Field(1000.0, ge=0, description="messages read per second per user")
    read_burst: int = Field(10000, ge=0)
    max_long_polls: int = Field(1000, ge=0, description="waiting GET /receive, in total")
    long_polls_per_user: int = Field(8, ge=0)
    long_polls_per_ip: int = Field(50, ge=0)
    # IRC command pacing (frontends/irc/pacing.py): units per command (1; WHO, WHOIS, NAMES
    # 2; LIST, HELP 5; a unit a JOIN/PART target, ten ISON/MONITOR nicks, an error answered)
    irc_command_rate: float = Field(
        10.0, ge=0, description="units per second a client's IRC commands may spend"
    )
    irc_command_burst: int = Field(300, ge=0, description="units spent at once before waiting")
    irc_flood_lines: int = Field(
        1000, ge=0, description="IRC commands waiting on one connection: past it, Excess Flood"
    )


class ModerationConfig(Section):
    profanity: Literal["off", "mask", "reject"] = "off"
    extra_words_file: str = ""  # one word or phrase per line, added to the packaged list
    audit_retention_days: float = Field(90.0, ge=0, description="0: audit entries stay forever")


class LogConfig(Section):
    dir: Path = Path("torbit-data/logs")
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    max_bytes: int = Field(10 * 1024 * 1024, ge=1024)
    backups: int = Field(7, ge=1)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TORBIT_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    telnet: TelnetConfig = TelnetConfig()
    http: HttpConfig = HttpConfig()
    irc: IrcConfig = IrcConfig()
    node: NodeConfig = NodeConfig()
    storage: StorageConfig = StorageConfig()
    message_log: MessageLogConfig = MessageLogConfig()
    chat: ChatConfig = ChatConfig()
    accounts: AccountsConfig = AccountsConfig()
    limits: LimitsConfig = LimitsConfig()
    moderation: ModerationConfig = ModerationConfig()
    log: LogConfig = LogConfig()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [env_settings, init_settings]
        if settings_cls.model_config.get("toml_file"):
            sources.append(TomlConfigSettingsSource(settings_cls))
        return tuple(sources)


def _section(name: str) -> type[Section] | None:
    field = Settings.model_fields.get(name)
    model = field.annotation if field is not None else None
    return model if isinstance(model, type) and issubclass(model, Section) else None


def _did_you_mean(name: str, known: Iterable[str], shown: str = "{}") -> str:
    """' (did you mean X?)' for a typo close to one known name (written as `shown`), else ''."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f" (did you mean {shown.format(close[0])}?)" if close else ""


def _unknown(section: str, key: str) -> str:
    """What is wrong with `section.key` (`key` empty: the section itself), with the closest
    known name: an operator's typo names what they meant."""
    model = _section(section)
    if model is None:
        hint = _did_you_mean(section, _sections(), "[{}]")
        return f"unknown config section [{section}]{hint}"
    hint = _did_you_mean(key, model.model_fields, section + ".{}")
    return f"unknown config key {section}.{key}{hint}"


def _sections() -> list[str]:
    return [name for name in Settings.model_fields if _section(name) is not None]


def _describe(err: ValidationError, environ: Mapping[str, str]) -> str:
    """One line: the key, where its value came from when a variable set it, and the value."""
    first = err.errors()[0]
    loc = [str(p) for p in first["loc"]]
    if first["type"] == "extra_forbidden" and 1 <= len(loc) <= 2:
        return _unknown(loc[0], loc[1] if len(loc) == 2 else "")
    key, variable = ".".join(loc) or "(top level)", "TORBIT_" + "__".join(loc).upper()
    msg = "unknown key" if first["type"] == "extra_forbidden" else first["msg"]
    if variable in environ:
        key += f" (set by {variable})"
    given = repr(first.get("input"))  # our own checks' words (value_error) say it already
    if first["type"] != "value_error" and isinstance(first.get("input"), str | int | float):
        msg += f", not {given}" if len(given) <= 60 else ""
    return f"config key {key}: {msg}"


def _check_environment(environ: Mapping[str, str]) -> None:
    """`TORBIT_SECTION__KEY` variables must name a known section and key: a typo is refused
    as it is in TOML, never silently ignored. Variables without `__` are not config."""
    for name in environ:
        if not name.startswith("TORBIT_") or "__" not in name:
            continue
        section, _, key = name[len("TORBIT_") :].lower().partition("__")
        if section in RENAMED_SECTIONS:
            raise ConfigError(
                f"environment variable {name}: section {section!r} is now "
                f"{RENAMED_SECTIONS[section]!r}: rename it "
                f"TORBIT_{RENAMED_SECTIONS[section].upper()}__{key.upper()}"
            )
        model = _section(section)
        if model is None or key not in model.model_fields:
            raise ConfigError(f"environment variable {name}: {_unknown(section, key)}")
        if get_origin(model.model_fields[key].annotation) in (tuple, list):
            _check_list(name, f"{section}.{key}", environ[name])


def _check_list(name: str, key: str, value: str) -> None:
    """A list in a variable is JSON (pydantic-settings' rule); `10.0.0.5` alone made it raise
    a page of traceback. Refused in one line, with the value written the way it must be."""
    try:
        if isinstance(json.loads(value), list):
            return
    except ValueError:
        pass
    example = json.dumps([p.strip(" \"'") for p in value.split(",") if p.strip(" \"'")])
    raise ConfigError(
        f"environment variable {name}: {key} is a list, written in JSON: {name}='{example}'"
    )


def load_settings(
    path: Path | None = None, environ: Mapping[str, str] | None = None, **overrides: Any
) -> Settings:
    """Read the TOML file (if any), apply environment overrides, validate. Raises ConfigError with
    one line that names the bad key."""
    environ = os.environ if environ is None else environ
    _check_environment(environ)
    cls: type[Settings] = Settings
    if path is not None:
        check_file(path)
        config = SettingsConfigDict(**{**Settings.model_config, "toml_file": path})
        cls = cast(type[Settings], type("FileSettings", (Settings,), {"model_config": config}))
    try:
        return cls(**overrides)
    except ValidationError as e:
        raise ConfigError(_describe(e, environ)) from None
