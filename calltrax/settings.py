"""One typed settings object, read from the environment and checked at start."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlparse

# Values people paste from examples; refused as a JWT secret outside development.
PLACEHOLDER_SECRETS = frozenset(
    {"secret", "changeme", "change-me", "your-secret", "dev-secret", "test", "password"}
)
MIN_SECRET_LENGTH = 32


class SettingsError(ValueError):
    """A bad setting; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    database_url: str | None = None
    redis_url: str | None = None
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
    log_level: str = "INFO"

    @property
    def broadcast_url(self) -> str:
        return self.redis_url or "memory://"

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
            log_level=_check_choice(
                "CALLTRAX_LOG_LEVEL",
                (get("CALLTRAX_LOG_LEVEL") or "INFO").upper(),
                {"DEBUG", "INFO", "WARNING", "ERROR"},
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


def _check_choice(name: str, value: str, choices: set[str]) -> str:
    if value not in choices:
        raise SettingsError(f"{name}: {value!r} is not one of {', '.join(sorted(choices))}")
    return value
