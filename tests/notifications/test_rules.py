"""The pure rules: which events notify, the retry schedule, and the signature a receiver checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from calltrax.settings import Settings, SettingsError
from domain.events import EventType
from domain.notifications import (
    RETRY_WINDOW,
    NotificationKind,
    backoff_delay,
    next_attempt_at,
    notification_kind,
    sign,
    verify_signature,
)


def test_which_events_notify() -> None:
    booked = {"lead": {"status": "booked"}, "changes": ["status", "booked_at"]}
    assert notification_kind(EventType.LEAD_CREATED, {}) is NotificationKind.NEW_LEAD
    assert notification_kind(EventType.SLA_BREACHED, {}) is NotificationKind.SLA_BREACHED
    assert notification_kind(EventType.LEAD_UPDATED, booked) is NotificationKind.BOOKED
    assert (
        notification_kind(EventType.LEAD_UPDATED, {"lead": {"status": "booked"}, "changes": ["notes"]})
        is None
    )
    assert (
        notification_kind(EventType.LEAD_UPDATED, {"lead": {"status": "closed"}, "changes": ["status"]})
        is None
    )
    assert notification_kind(EventType.CALL_UPDATED, booked) is None
    assert notification_kind(EventType.LEAD_STAGE_CHANGED, booked) is None


def test_backoff_doubles_up_to_the_cap_with_bounded_jitter() -> None:
    low = [backoff_delay(n, base=10, cap=3600, jitter=0).total_seconds() for n in range(1, 12)]
    assert low == [5, 10, 20, 40, 80, 160, 320, 640, 1280, 1800, 1800]
    assert backoff_delay(3, base=10, cap=3600, jitter=0.999).total_seconds() == pytest.approx(40 * 0.9995)
    assert backoff_delay(10_000, base=10, cap=3600, jitter=0.5).total_seconds() == 2700
    with pytest.raises(ValueError):
        backoff_delay(0, base=10, cap=3600, jitter=0)


def test_retries_stop_after_24_hours() -> None:
    queued = datetime(2025, 1, 1, tzinfo=UTC)
    at, failures = queued, 0
    while True:
        failures += 1
        following = next_attempt_at(
            queued_at=queued, failed_at=at, failures=failures, base=10, cap=3600, jitter=0.5
        )
        if following is None:
            break
        at = following
    assert at <= queued + RETRY_WINDOW
    assert at > queued + RETRY_WINDOW - timedelta(hours=1)
    # About 11 doublings up to the cap, then hourly-ish for the rest of the day.
    assert 25 <= failures <= 40


def test_a_receiver_verifies_the_signature_and_refuses_stale_or_altered_requests() -> None:
    now = datetime(2025, 1, 1, 12, tzinfo=UTC)
    stamp = int(now.timestamp())
    body = b'{"kind":"new_lead"}'
    signature = sign("s3cret", stamp, body)
    assert signature.startswith("sha256=")
    assert len(signature) == 7 + 64
    assert verify_signature("s3cret", timestamp=str(stamp), body=body, signature=signature, now=now)
    assert not verify_signature("other", timestamp=str(stamp), body=body, signature=signature, now=now)
    assert not verify_signature(
        "s3cret", timestamp=str(stamp), body=body + b" ", signature=signature, now=now
    )
    # The timestamp is signed: a replay with a fresh timestamp fails.
    assert not verify_signature(
        "s3cret", timestamp=str(stamp + 600), body=body, signature=signature, now=now + timedelta(minutes=10)
    )
    assert not verify_signature(
        "s3cret", timestamp=str(stamp), body=body, signature=signature, now=now + timedelta(minutes=10)
    )
    assert not verify_signature("s3cret", timestamp="soon", body=body, signature=signature, now=now)


def test_smtp_settings_are_read_and_checked_naming_the_variable() -> None:
    settings = Settings.from_env(
        {
            "SMTP_HOST": "smtp.example.com",
            "SMTP_PORT": "465",
            "SMTP_FROM": "CallTrax <alerts@example.com>",
            "SMTP_USERNAME": "alerts",
            "SMTP_PASSWORD": "pw",
            "SMTP_TLS": "TLS",
            "CALLTRAX_NOTIFY_BACKOFF_SECONDS": "0.5",
            "CALLTRAX_SLA_SWEEP_SECONDS": "2",
        }
    )
    assert (settings.smtp_host, settings.smtp_port, settings.smtp_tls) == ("smtp.example.com", 465, "tls")
    assert settings.notification_backoff_seconds == 0.5
    assert settings.sla_sweep_seconds == 2
    defaults = Settings.from_env({})
    assert (defaults.smtp_host, defaults.smtp_port, defaults.smtp_tls) == (None, 587, "starttls")
    for env, variable in [
        ({"SMTP_HOST": "smtp.example.com"}, "SMTP_FROM"),
        ({"SMTP_FROM": "nobody"}, "SMTP_FROM"),
        ({"SMTP_PORT": "x"}, "SMTP_PORT"),
        ({"SMTP_PORT": "70000"}, "SMTP_PORT"),
        ({"SMTP_TLS": "ssl3"}, "SMTP_TLS"),
        ({"SMTP_USERNAME": "u"}, "SMTP_PASSWORD"),
        ({"SMTP_PASSWORD": "p"}, "SMTP_USERNAME"),
        ({"CALLTRAX_NOTIFY_BACKOFF_SECONDS": "-1"}, "CALLTRAX_NOTIFY_BACKOFF_SECONDS"),
        ({"CALLTRAX_SLA_SWEEP_SECONDS": "nan"}, "CALLTRAX_SLA_SWEEP_SECONDS"),
    ]:
        with pytest.raises(SettingsError, match=variable):
            Settings.from_env(env)
