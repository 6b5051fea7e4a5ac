"""One typed settings object, read from the environment and checked at start."""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from domain.destinations import DestinationPolicy, IPNetwork, parse_networks
from persistence.db import (
    DEFAULT_API_POOL_SIZE,
    DEFAULT_BACKGROUND_POOL_SIZE,
    DEFAULT_IDLE_IN_TRANSACTION_SECONDS,
    DEFAULT_POOL_SIZE,
    DEFAULT_READ_STATEMENT_TIMEOUT_SECONDS,
    RESERVED_CONNECTIONS,
)

# Values people paste from examples; refused as a JWT secret outside development.
PLACEHOLDER_SECRETS = frozenset(
    {"secret", "changeme", "change-me", "your-secret", "dev-secret", "test", "password"}
)
MIN_SECRET_LENGTH = 32
# Room for at least two webhook writes beside the connections kept for the webhooks' reads.
MIN_POOL_SIZE = RESERVED_CONNECTIONS + 2
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


class SettingsError(ValueError):
    """A bad setting; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    database_url: str | None = None
    redis_url: str | None = None
    # Put before every Redis pub/sub channel name: deployments (or test runs) sharing one Redis server
    # need different prefixes, since pub/sub ignores the database number in REDIS_URL.
    redis_channel_prefix: str = ""
    jwt_secret: str | None = None
    jwks_url: str | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    public_base_url: str = "http://localhost:8000"
    dialpad_api_key: str | None = None
    dialpad_office_id: str | None = None
    dialpad_base_url: str = "https://dialpad.com/api/v2"
    data_dir: Path = field(default_factory=lambda: Path(".calltrax"))
    environment: str = "development"
    event_retention_days: int = 30
    # PostgreSQL connections per server process for the webhooks (their writes leave 2 to their reads).
    db_pool_size: int = DEFAULT_POOL_SIZE
    # PostgreSQL ends a session of ours idle inside a transaction this long (0 = never): a backstop.
    db_idle_in_transaction_seconds: float = DEFAULT_IDLE_IN_TRANSACTION_SECONDS
    # Separate pools (issue 19), so no kind of work can take another's connections: GraphQL, exports
    # and subscriptions use the API pool; the relay, sweeps, notifications, retention and the access
    # re-check the background pool; the webhooks keep `db_pool_size` to themselves.
    db_api_pool_size: int = DEFAULT_API_POOL_SIZE
    db_background_pool_size: int = DEFAULT_BACKGROUND_POOL_SIZE
    # PostgreSQL's statement_timeout on the API pool: a read running longer is cancelled (QUERY_TIMEOUT).
    read_statement_timeout_seconds: float = DEFAULT_READ_STATEMENT_TIMEOUT_SECONDS
    # Estimated rows one GraphQL operation may ask for (graph/read_limits.py): QUERY_TOO_COSTLY past it.
    graphql_max_query_cost: int = 5000
    # GraphQL requests one user may have running at once, per process; 4 times as many wait in line,
    # more are refused with TOO_MANY_CONCURRENT_REQUESTS (graph/read_limits.py).
    graphql_max_concurrent_per_user: int = 2
    log_level: str = "INFO"
    # Outgoing email for notifications (issue 9); emails are not sent while smtp_host is unset.
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_from: str | None = None
    smtp_username: str | None = None
    smtp_password: str | None = None
    # "starttls" (upgrade a plain connection), "tls" (implicit TLS, port 465) or "none".
    smtp_tls: str = "starttls"
    # Notification retries: the first delay, doubled per failure up to the cap (with jitter), for 24 h.
    notification_backoff_seconds: float = 10.0
    notification_backoff_cap_seconds: float = 3600.0
    notification_poll_seconds: float = 1.0
    # Where webhook notifications may go: public addresses only unless these open internal ones.
    notify_allow_private: bool = False
    notify_allowed_networks: tuple[IPNetwork, ...] = ()
    # How often the SLA sweep looks for leads past their tenant's SLA.
    sla_sweep_seconds: float = 5.0
    # How often the stage sweep moves open leads to the pipeline column of their age (0 = never).
    stage_sweep_seconds: float = 30.0
    # How often open subscriptions re-read their callers' access (a backstop for a lost revocation
    # announcement, or a change made straight in the database; announced changes take effect at once).
    access_recheck_seconds: float = 5.0
    # Bounds on what one caller can hold (issue 13); docs/security.md lists where each is enforced.
    graphql_max_body_bytes: int = 1024 * 1024
    body_timeout_seconds: float = 15.0
    ws_max_message_bytes: int = 64 * 1024
    ws_max_per_user: int = 50
    ws_max_per_address: int = 100
    max_connections: int = 4000
    keep_alive_seconds: int = 5
    # Queries over the read schema answered by one SQL statement (docs/reads.md); false = resolvers.
    graphql_compiled_reads: bool = True

    @property
    def broadcast_url(self) -> str:
        return self.redis_url or "memory://"

    @property
    def notify_destinations(self) -> DestinationPolicy:
        return DestinationPolicy(
            allow_private=self.notify_allow_private, allowed_networks=self.notify_allowed_networks
        )

    @property
    def jwt_secret_file(self) -> Path:
        return self.data_dir / "jwt_secret"

    @property
    def embedded_pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read and validate every setting; raises SettingsError naming the bad variable."""
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        settings = cls(
            database_url=_check_url(
                "DATABASE_URL", get("DATABASE_URL"), {"postgresql", "postgres", "postgresql+asyncpg"}
            ),
            redis_url=_check_url("REDIS_URL", get("REDIS_URL"), {"redis", "rediss", "memory"}),
            redis_channel_prefix=get("CALLTRAX_REDIS_CHANNEL_PREFIX") or "",
            jwt_secret=get("CALLTRAX_JWT_SECRET"),
            jwks_url=_check_url("CALLTRAX_JWKS_URL", get("CALLTRAX_JWKS_URL"), {"http", "https"}),
            jwt_issuer=get("CALLTRAX_JWT_ISSUER"),
            jwt_audience=get("CALLTRAX_JWT_AUDIENCE"),
            public_base_url=(
                _check_url("PUBLIC_BASE_URL", get("PUBLIC_BASE_URL"), {"http", "https"})
                or "http://localhost:8000"
            ).rstrip("/"),
            dialpad_api_key=get("DIALPAD_API_KEY"),
            dialpad_office_id=_check_int("DIALPAD_OFFICE_ID", get("DIALPAD_OFFICE_ID")),
            dialpad_base_url=(
                _check_url("DIALPAD_BASE_URL", get("DIALPAD_BASE_URL"), {"http", "https"})
                or "https://dialpad.com/api/v2"
            ).rstrip("/"),
            data_dir=Path(get("CALLTRAX_DATA_DIR") or ".calltrax"),
            environment=_check_choice(
                "CALLTRAX_ENV", get("CALLTRAX_ENV") or "development", {"development", "production"}
            ),
            event_retention_days=int(
                _check_int("CALLTRAX_EVENT_RETENTION_DAYS", get("CALLTRAX_EVENT_RETENTION_DAYS")) or 30
            ),
            db_pool_size=_check_pool_size(get("CALLTRAX_DB_POOL_SIZE")),
            db_idle_in_transaction_seconds=_check_seconds(
                "CALLTRAX_DB_IDLE_IN_TRANSACTION_SECONDS",
                get("CALLTRAX_DB_IDLE_IN_TRANSACTION_SECONDS"),
                DEFAULT_IDLE_IN_TRANSACTION_SECONDS,
                zero_allowed=True,
            ),
            db_api_pool_size=_check_count(
                "CALLTRAX_DB_API_POOL_SIZE", get("CALLTRAX_DB_API_POOL_SIZE"), DEFAULT_API_POOL_SIZE
            ),
            db_background_pool_size=_check_count(
                "CALLTRAX_DB_BACKGROUND_POOL_SIZE",
                get("CALLTRAX_DB_BACKGROUND_POOL_SIZE"),
                DEFAULT_BACKGROUND_POOL_SIZE,
            ),
            read_statement_timeout_seconds=_check_seconds(
                "CALLTRAX_READ_STATEMENT_TIMEOUT_SECONDS",
                get("CALLTRAX_READ_STATEMENT_TIMEOUT_SECONDS"),
                DEFAULT_READ_STATEMENT_TIMEOUT_SECONDS,
                zero_allowed=True,
            ),
            graphql_max_query_cost=_check_count(
                "CALLTRAX_GRAPHQL_MAX_QUERY_COST", get("CALLTRAX_GRAPHQL_MAX_QUERY_COST"), 5000
            ),
            graphql_max_concurrent_per_user=_check_count(
                "CALLTRAX_GRAPHQL_MAX_CONCURRENT_PER_USER", get("CALLTRAX_GRAPHQL_MAX_CONCURRENT_PER_USER"), 2
            ),
            log_level=_check_choice(
                "CALLTRAX_LOG_LEVEL",
                (get("CALLTRAX_LOG_LEVEL") or "INFO").upper(),
                {"DEBUG", "INFO", "WARNING", "ERROR"},
            ),
            **_smtp_settings(get),
            notification_backoff_seconds=_check_seconds(
                "CALLTRAX_NOTIFY_BACKOFF_SECONDS", get("CALLTRAX_NOTIFY_BACKOFF_SECONDS"), 10.0
            ),
            notification_backoff_cap_seconds=_check_seconds(
                "CALLTRAX_NOTIFY_BACKOFF_CAP_SECONDS", get("CALLTRAX_NOTIFY_BACKOFF_CAP_SECONDS"), 3600.0
            ),
            notification_poll_seconds=_check_seconds(
                "CALLTRAX_NOTIFY_POLL_SECONDS", get("CALLTRAX_NOTIFY_POLL_SECONDS"), 1.0
            ),
            notify_allow_private=_check_bool(
                "CALLTRAX_NOTIFY_ALLOW_PRIVATE", get("CALLTRAX_NOTIFY_ALLOW_PRIVATE"), False
            ),
            notify_allowed_networks=_check_networks(
                "CALLTRAX_NOTIFY_ALLOWED_NETWORKS", get("CALLTRAX_NOTIFY_ALLOWED_NETWORKS")
            ),
            # 0: this process never sweeps (e.g. only dedicated workers send SLA alerts).
            sla_sweep_seconds=_check_seconds(
                "CALLTRAX_SLA_SWEEP_SECONDS", get("CALLTRAX_SLA_SWEEP_SECONDS"), 5.0, zero_allowed=True
            ),
            stage_sweep_seconds=_check_seconds(
                "CALLTRAX_STAGE_SWEEP_SECONDS", get("CALLTRAX_STAGE_SWEEP_SECONDS"), 30.0, zero_allowed=True
            ),
            access_recheck_seconds=_check_seconds(
                "CALLTRAX_ACCESS_RECHECK_SECONDS", get("CALLTRAX_ACCESS_RECHECK_SECONDS"), 5.0
            ),
            graphql_max_body_bytes=_check_count(
                "CALLTRAX_GRAPHQL_MAX_BODY_BYTES", get("CALLTRAX_GRAPHQL_MAX_BODY_BYTES"), 1024 * 1024
            ),
            body_timeout_seconds=_check_seconds(
                "CALLTRAX_BODY_TIMEOUT_SECONDS", get("CALLTRAX_BODY_TIMEOUT_SECONDS"), 15.0
            ),
            ws_max_message_bytes=_check_count(
                "CALLTRAX_WS_MAX_MESSAGE_BYTES", get("CALLTRAX_WS_MAX_MESSAGE_BYTES"), 64 * 1024
            ),
            ws_max_per_user=_check_count("CALLTRAX_WS_MAX_PER_USER", get("CALLTRAX_WS_MAX_PER_USER"), 50),
            ws_max_per_address=_check_count(
                "CALLTRAX_WS_MAX_PER_ADDRESS", get("CALLTRAX_WS_MAX_PER_ADDRESS"), 100
            ),
            max_connections=_check_count("CALLTRAX_MAX_CONNECTIONS", get("CALLTRAX_MAX_CONNECTIONS"), 4000),
            keep_alive_seconds=_check_count(
                "CALLTRAX_KEEP_ALIVE_SECONDS", get("CALLTRAX_KEEP_ALIVE_SECONDS"), 5
            ),
            graphql_compiled_reads=_check_bool(
                "CALLTRAX_GRAPHQL_COMPILED_READS", get("CALLTRAX_GRAPHQL_COMPILED_READS"), True
            ),
        )
        settings.check_secret()
        return settings

    def check_secret(self) -> None:
        secret = self.jwt_secret
        if secret is None:
            return
        if self.environment != "development" and (
            secret.lower() in PLACEHOLDER_SECRETS or len(secret) < MIN_SECRET_LENGTH
        ):
            raise SettingsError(
                f"CALLTRAX_JWT_SECRET: a placeholder or a secret shorter than {MIN_SECRET_LENGTH} characters "
                "is refused outside development"
            )

    def with_saved_secret(self, *, create: bool) -> Settings:
        """Fill jwt_secret from the data folder when neither a secret nor a JWKS URL is set.

        With `create`, a missing secret is generated and saved (first run of `serve`)."""
        if self.jwt_secret or self.jwks_url:
            return self
        path = self.jwt_secret_file
        if path.exists():
            return replace(self, jwt_secret=path.read_text().strip())
        if not create:
            return self
        path.parent.mkdir(parents=True, exist_ok=True)
        secret = secrets.token_urlsafe(48)
        path.write_text(secret + "\n")
        path.chmod(0o600)
        return replace(self, jwt_secret=secret)


def _check_url(name: str, value: str | None, schemes: set[str]) -> str | None:
    if value is None:
        return None
    parsed = urlparse(value)
    if parsed.scheme not in schemes:
        allowed = ", ".join(sorted(f"{scheme}://" for scheme in schemes))
        raise SettingsError(f"{name}: {value.split('@')[-1]!r} is not a URL starting with one of {allowed}")
    if parsed.scheme in {"http", "https"} and not parsed.netloc:
        raise SettingsError(f"{name}: {value!r} has no host")
    return value


def _check_int(name: str, value: str | None) -> str | None:
    if value is None:
        return None
    if not value.isdigit():
        raise SettingsError(f"{name}: {value!r} is not a whole number")
    return value


def _check_count(name: str, value: str | None, default: int) -> int:
    """A positive whole number (a size, a count, whole seconds)."""
    count = int(_check_int(name, value) or default)
    if count < 1:
        raise SettingsError(f"{name}: {value!r} is not a positive whole number")
    return count


def _check_pool_size(value: str | None) -> int:
    size = int(_check_int("CALLTRAX_DB_POOL_SIZE", value) or DEFAULT_POOL_SIZE)
    if size < MIN_POOL_SIZE:
        raise SettingsError(f"CALLTRAX_DB_POOL_SIZE: {size} is fewer than {MIN_POOL_SIZE} connections")
    return size


def _check_seconds(name: str, value: str | None, default: float, *, zero_allowed: bool = False) -> float:
    if value is None:
        return default
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    lowest_ok = seconds >= 0 if zero_allowed else seconds > 0
    if not (lowest_ok and seconds < float("inf")):
        kind = "a number of seconds (0 or more)" if zero_allowed else "a positive number of seconds"
        raise SettingsError(f"{name}: {value!r} is not {kind}")
    return seconds


_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


def _check_bool(name: str, value: str | None, default: bool) -> bool:
    if value is None:
        return default
    if value.lower() in _TRUE | _FALSE:
        return value.lower() in _TRUE
    raise SettingsError(f"{name}: {value!r} is not true or false")


def _check_networks(name: str, value: str | None) -> tuple[IPNetwork, ...]:
    try:
        return parse_networks(value or "")
    except ValueError as error:
        raise SettingsError(f"{name}: {error}") from None


def _smtp_settings(get: Callable[[str], str | None]) -> dict[str, Any]:
    """SMTP_* checked together: a host needs a sender address; a username needs a password."""
    host = get("SMTP_HOST")
    sender = get("SMTP_FROM")
    username, password = get("SMTP_USERNAME"), get("SMTP_PASSWORD")
    port = int(_check_int("SMTP_PORT", get("SMTP_PORT")) or 587)
    if not 0 < port < 65536:
        raise SettingsError(f"SMTP_PORT: {port} is not a TCP port")
    if sender is not None and not _EMAIL.match(sender.rpartition("<")[2].rstrip(">").strip()):
        raise SettingsError(f"SMTP_FROM: {sender!r} is not an email address")
    if host is not None and sender is None:
        raise SettingsError("SMTP_FROM: required when SMTP_HOST is set (the notifications' sender address)")
    if (username is None) != (password is None):
        missing = "SMTP_PASSWORD" if password is None else "SMTP_USERNAME"
        raise SettingsError(f"{missing}: SMTP_USERNAME and SMTP_PASSWORD go together")
    tls = _check_choice("SMTP_TLS", (get("SMTP_TLS") or "starttls").lower(), {"starttls", "tls", "none"})
    return {
        "smtp_host": host,
        "smtp_port": port,
        "smtp_from": sender,
        "smtp_username": username,
        "smtp_password": password,
        "smtp_tls": tls,
    }


def _check_choice(name: str, value: str, choices: set[str]) -> str:
    if value not in choices:
        raise SettingsError(f"{name}: {value!r} is not one of {', '.join(sorted(choices))}")
    return value
