"""Settings come from the environment, and a bad value names its variable."""

from __future__ import annotations

from ipaddress import ip_address, ip_network
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
            "CALLTRAX_REDIS_CHANNEL_PREFIX": "staging:",
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
    assert settings.redis_channel_prefix == "staging:"
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
        ("CALLTRAX_NOTIFY_ALLOW_PRIVATE", "maybe"),
        ("CALLTRAX_NOTIFY_ALLOWED_NETWORKS", "intranet"),
        ("CALLTRAX_NOTIFY_ALLOWED_NETWORKS", "10.0.0.0/33"),
        ("CALLTRAX_NOTIFY_ALLOWED_NETWORKS", "10.0.0.1/8"),
        ("CALLTRAX_DB_IDLE_IN_TRANSACTION_SECONDS", "-1"),
    ],
)
def test_a_bad_value_fails_naming_the_variable(variable: str, value: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        Settings.from_env({variable: value})


def test_notifications_go_to_public_addresses_unless_the_operator_opens_more() -> None:
    default = Settings.from_env({}).notify_destinations
    assert default.refusal(ip_address("10.0.0.1")) == "private"
    assert default.refusal(ip_address("8.8.8.8")) is None
    opened = Settings.from_env(
        {
            "CALLTRAX_NOTIFY_ALLOW_PRIVATE": "True",
            "CALLTRAX_NOTIFY_ALLOWED_NETWORKS": " 169.254.169.254/32, fd00::/8 ,",
        }
    )
    assert opened.notify_allow_private is True
    assert opened.notify_allowed_networks == (ip_network("169.254.169.254/32"), ip_network("fd00::/8"))
    assert opened.notify_destinations.refusal(ip_address("10.0.0.1")) is None
    assert opened.notify_destinations.refusal(ip_address("169.254.169.254")) is None
    assert Settings.from_env({"CALLTRAX_NOTIFY_ALLOW_PRIVATE": "0"}).notify_allow_private is False


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


LIMITS = {
    "CALLTRAX_GRAPHQL_MAX_BODY_BYTES": ("graphql_max_body_bytes", 1024 * 1024, "2048", 2048),
    "CALLTRAX_BODY_TIMEOUT_SECONDS": ("body_timeout_seconds", 15.0, "2.5", 2.5),
    "CALLTRAX_WS_MAX_MESSAGE_BYTES": ("ws_max_message_bytes", 64 * 1024, "4096", 4096),
    "CALLTRAX_WS_MAX_PER_USER": ("ws_max_per_user", 50, "7", 7),
    "CALLTRAX_WS_MAX_PER_ADDRESS": ("ws_max_per_address", 100, "9", 9),
    "CALLTRAX_MAX_CONNECTIONS": ("max_connections", 4000, "500", 500),
    "CALLTRAX_KEEP_ALIVE_SECONDS": ("keep_alive_seconds", 5, "30", 30),
}


@pytest.mark.parametrize("variable", sorted(LIMITS))
def test_limits_have_defaults_are_read_and_refuse_zero(variable: str) -> None:
    attribute, default, given, read = LIMITS[variable]
    assert getattr(Settings.from_env({}), attribute) == default
    assert getattr(Settings.from_env({variable: given}), attribute) == read
    for bad in ("0", "-1", "lots"):
        with pytest.raises(SettingsError, match=variable):
            Settings.from_env({variable: bad})
