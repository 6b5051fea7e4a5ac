"""Our real Dialpad client against the fake Dialpad over real HTTP: bodies, retries, errors, rate limit."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from calltrax.dialpad_client import DialpadClient, retry_after_seconds
from domain.errors import DialpadError
from domain.tenants import DEFAULT_BUSINESS_HOURS
from tests.fake_dialpad import API_KEY, FakeDialpad

CC = "/api/v2/callcenters"


async def _create(dialpad: DialpadClient) -> str:
    answer = await dialpad.create_call_center(name="Acme", office_id="124", hours=DEFAULT_BUSINESS_HOURS)
    return str(answer["id"])


async def test_sends_the_key_and_gets_string_ids(dialpad, fake_dialpad: FakeDialpad):
    call_center_id = await _create(dialpad)
    [request] = fake_dialpad.calls("POST", CC)
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.body["office_id"] == 124
    assert isinstance(call_center_id, str)
    assert call_center_id in fake_dialpad.call_centers


async def test_429_waits_for_retry_after_then_succeeds(dialpad, fake_dialpad: FakeDialpad):
    fake_dialpad.fail("POST", CC, 429, retry_after="1")
    started = time.monotonic()
    await _create(dialpad)
    elapsed = time.monotonic() - started
    assert len(fake_dialpad.calls("POST", CC)) == 2
    # Retry-After (1 s) wins over the 20-100 ms backoff this client is configured with.
    assert elapsed >= 0.95
    assert len(fake_dialpad.call_centers) == 1


async def test_500s_are_retried(dialpad, fake_dialpad: FakeDialpad):
    fake_dialpad.fail("POST", CC, 500, times=2)
    await _create(dialpad)
    assert len(fake_dialpad.calls("POST", CC)) == 3
    assert len(fake_dialpad.call_centers) == 1


async def test_408_is_retried(dialpad, fake_dialpad: FakeDialpad):
    fake_dialpad.fail("POST", CC, 408)
    await _create(dialpad)
    assert len(fake_dialpad.calls("POST", CC)) == 2


@pytest.mark.parametrize("status", [400, 401, 403, 409, 422])
async def test_other_4xx_are_not_retried(dialpad, fake_dialpad: FakeDialpad, status: int):
    fake_dialpad.fail("POST", CC, status, message="office 124 not found")
    with pytest.raises(DialpadError) as raised:
        await _create(dialpad)
    assert len(fake_dialpad.calls("POST", CC)) == 1
    assert raised.value.status == status
    assert "office 124 not found" in raised.value.message
    assert raised.value.step == "callcenter"


async def test_a_timeout_is_retried(dialpad, fake_dialpad: FakeDialpad):
    # The fake holds the first request past the client's 0.5 s timeout.
    fake_dialpad.stall("POST", CC, seconds=3)
    await _create(dialpad)
    assert len(fake_dialpad.calls("POST", CC)) == 2
    assert len(fake_dialpad.call_centers) == 1


async def test_a_timeout_after_dialpad_did_the_work_adopts_the_result(dialpad, fake_dialpad: FakeDialpad):
    fake_dialpad.stall("POST", CC, seconds=3, process_first=True)
    call_center_id = await _create(dialpad)
    assert len(fake_dialpad.calls("POST", CC)) == 1
    assert list(fake_dialpad.call_centers) == [call_center_id]


async def test_gives_up_after_the_last_attempt_with_dialpads_status(dialpad, fake_dialpad: FakeDialpad):
    fake_dialpad.fail("POST", CC, 503, times=100, message="maintenance")
    with pytest.raises(DialpadError) as raised:
        await _create(dialpad)
    assert len(fake_dialpad.calls("POST", CC)) == 5
    assert raised.value.status == 503
    assert "maintenance" in raised.value.message


async def test_an_unreachable_dialpad_is_a_dialpad_error():
    async with httpx.AsyncClient() as http:
        client = DialpadClient(
            http, base_url="http://127.0.0.1:9/api/v2", api_key="k", base_delay=0.01, max_attempts=2
        )
        with pytest.raises(DialpadError) as raised:
            await _create(client)
    assert raised.value.status is None
    assert "unreachable" in raised.value.message


async def test_delete_of_a_missing_resource_is_fine(dialpad, fake_dialpad: FakeDialpad):
    await dialpad.delete_call_center("404404")
    assert [r.path for r in fake_dialpad.requests] == [f"{CC}/404404"]


async def test_requests_stay_under_20_per_second(fake_dialpad: FakeDialpad):
    async with httpx.AsyncClient() as http:
        client = DialpadClient(http, base_url=fake_dialpad.base_url, api_key=API_KEY)
        await asyncio.gather(*(client.delete_webhook(str(n)) for n in range(30)))
    times = sorted(r.at for r in fake_dialpad.requests)
    assert len(times) == 30
    busiest = max(sum(1 for t in times if start <= t < start + 1.0) for start in times)
    assert busiest < 20, busiest


def test_retry_after_reads_seconds_and_dates():
    now = datetime(2025, 1, 1, tzinfo=UTC)
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds(format_datetime(now + timedelta(seconds=30), usegmt=True), now=now) == 30.0
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


async def test_a_rate_limit_403_is_retried_like_a_429_and_another_403_is_not(
    dialpad, fake_dialpad: FakeDialpad
):
    fake_dialpad.fail(
        "POST", CC, 403, reason="rate_limit_exceeded", message="Rate limit exceeded", retry_after="0"
    )
    await _create(dialpad)
    assert len(fake_dialpad.calls("POST", CC)) == 2
    fake_dialpad.fail("POST", CC, 403, reason="forbidden", message="API key lacks the scope")
    with pytest.raises(DialpadError) as raised:
        await _create(dialpad)
    assert len(fake_dialpad.calls("POST", CC)) == 3
    assert raised.value.status == 403


def _answer(status: int, body: object) -> httpx.Response:
    return httpx.Response(status, json=body, request=httpx.Request("POST", "https://dialpad.test/api/v2/x"))


def test_dialpads_messages_are_shown_not_its_json():
    from calltrax.dialpad_client import dialpad_message, is_rate_limited

    errors = {
        "error": {
            "code": 400,
            "errors": [{"message": "name is too long"}, {"message": "office_id is required"}],
        }
    }
    assert dialpad_message(_answer(400, errors)) == "name is too long; office_id is required"
    assert dialpad_message(_answer(404, {"error": {"code": 404, "message": "not found"}})) == "not found"
    # JSON without a message: the status's phrase, never the JSON.
    assert dialpad_message(_answer(500, {"oops": [1, 2]})) == "Internal Server Error"
    assert is_rate_limited(_answer(403, {"error": {"errors": [{"reason": "rate_limit_exceeded"}]}}))
    assert not is_rate_limited(_answer(403, {"error": {"errors": [{"reason": "forbidden"}]}}))
