"""Settings come from the environment, and a bad value names its variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from calltrax.settings import Settings, SettingsError


def test_defaults_without_any_variable() -> None:
    settings = Settings.from_env({})
    assert settings.database_url is None
    assert settings.broadcast_url == "memory://"
    assert settings.public_base_url == "http://localhost:8000"
    assert settings.dialpad_base_url == "https://dialpad.com/api/v2"
    assert settings.data_dir == Path(".calltrax")
    assert settings.db_pool_size == 16


def test_every_documented_variable_is_read() -> None:
    settings = Settings.from_env(
        {
            "DATABASE_URL": "postgresql://u@db:5432/calltrax",
            "REDIS_URL": "redis://cache:6379/0",
            "CALLTRAX_JWT_SECRET": "x" * 40,
            "CALLTRAX_JWKS_URL": "https://idp.example.com/.well-known/jwks.json",
            "CALLTRAX_JWT_ISSUER": "https://idp.example.com/",
            "CALLTRAX_JWT_AUDIENCE": "calltrax",
            "PUBLIC_BASE_URL": "https://calltrax.example.com/",
            "DIALPAD_API_KEY": "key",
            "DIALPAD_OFFICE_ID": "5527348325810176",
            "DIALPAD_BASE_URL": "https://sandbox.dialpad.com/api/v2",
            "CALLTRAX_DATA_DIR": "/var/lib/calltrax",
            "CALLTRAX_DB_POOL_SIZE": "24",
            "CALLTRAX_DB_IDLE_IN_TRANSACTION_SECONDS": "0",
        }
    )
    assert settings.db_pool_size == 24
    assert settings.db_idle_in_transaction_seconds == 0
    assert Settings.from_env({}).db_idle_in_transaction_seconds == 60
    assert settings.broadcast_url == "redis://cache:6379/0"
    assert settings.public_base_url == "https://calltrax.example.com"
    assert settings.dialpad_office_id == "5527348325810176"
    assert settings.jwt_audience == "calltrax"
    assert settings.data_dir == Path("/var/lib/calltrax")


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DATABASE_URL", "mysql://root@db/calltrax"),
        ("REDIS_URL", "http://cache:6379"),
        ("PUBLIC_BASE_URL", "calltrax.example.com"),
        ("DIALPAD_OFFICE_ID", "office-7"),
        ("DIALPAD_BASE_URL", "ftp://dialpad.com"),
        ("CALLTRAX_JWKS_URL", "not a url"),
        ("CALLTRAX_ENV", "staging"),
        ("CALLTRAX_DB_POOL_SIZE", "many"),
        ("CALLTRAX_DB_POOL_SIZE", "3"),
        ("CALLTRAX_DB_IDLE_IN_TRANSACTION_SECONDS", "-1"),
    ],
)
def test_a_bad_value_fails_naming_the_variable(variable: str, value: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        Settings.from_env({variable: value})


def test_placeholder_secrets_are_refused_outside_development() -> None:
    with pytest.raises(SettingsError, match="CALLTRAX_JWT_SECRET"):
        Settings.from_env({"CALLTRAX_ENV": "production", "CALLTRAX_JWT_SECRET": "changeme"})
    assert Settings.from_env({"CALLTRAX_JWT_SECRET": "changeme"}).jwt_secret == "changeme"


def test_first_run_generates_and_then_reuses_a_secret(tmp_path: Path) -> None:
    settings = Settings.from_env({"CALLTRAX_DATA_DIR": str(tmp_path)})
    assert settings.with_saved_secret(create=False).jwt_secret is None
    created = settings.with_saved_secret(create=True).jwt_secret
    assert created is not None
    assert len(created) >= 48
    assert settings.with_saved_secret(create=False).jwt_secret == created
    assert (tmp_path / "jwt_secret").stat().st_mode & 0o777 == 0o600
