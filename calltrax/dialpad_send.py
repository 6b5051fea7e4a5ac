"""`calltrax dialpad send`: sign Dialpad call events with a tenant's secret and post them to a server,
as Dialpad does (one HS256 JWT per request to the tenant's Dialpad endpoint)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from calltrax.simulate import TIME_FIELDS, Credentials, sign


class EventFileError(ValueError):
    """The events file cannot be read as one event object or a JSON array of them."""


def read_events(path: str) -> list[dict[str, Any]]:
    """One event object, or a JSON array of them in the order to send; `-` reads stdin."""
    try:
        text = Path("/dev/stdin" if path == "-" else path).read_text(encoding="utf-8")
    except OSError as error:
        raise EventFileError(f"cannot read {path}: {error.strerror}") from error
    try:
        parsed = json.loads(text)
    except ValueError as error:
        raise EventFileError(f"{path} is not JSON: {error}") from error
    events = parsed if isinstance(parsed, list) else [parsed]
    for number, event in enumerate(events, start=1):
        if not isinstance(event, dict):
            raise EventFileError(f"{path}: event {number} is not a JSON object")
        if "call_id" not in event:
            raise EventFileError(f"{path}: event {number} has no call_id")
    if not events:
        raise EventFileError(f"{path} holds no events")
    return events


def shift_to_now(events: list[dict[str, Any]], now_ms: int | None = None) -> list[dict[str, Any]]:
    """The events with every time moved by one offset, so the earliest `date_started` (else the
    earliest event time) is now: a recorded sequence replays as a call happening now, after the
    lead it should be linked to."""
    starts = [int(event[key]) for event in events for key in ("date_started",) if event.get(key)]
    starts = starts or [int(event[key]) for event in events for key in TIME_FIELDS if event.get(key)]
    if not starts:
        return events
    offset = (now_ms if now_ms is not None else int(time.time() * 1000)) - min(starts)
    shifted = []
    for event in events:
        moved = dict(event)
        for key in TIME_FIELDS:
            if isinstance(moved.get(key), int | float) and moved[key]:
                moved[key] = moved[key] + offset
        if isinstance(moved.get("recording_details"), list):
            moved["recording_details"] = [
                {**item, "start_time": item["start_time"] + offset}
                if isinstance(item, dict) and isinstance(item.get("start_time"), int | float)
                else item
                for item in moved["recording_details"]
            ]
        shifted.append(moved)
    return shifted


def send_events(
    credentials: Credentials,
    events: list[dict[str, Any]],
    *,
    base_url: str,
    report: Callable[[str], None],
) -> bool:
    """Sign and post each event in order, reporting each answer; True when every one got 200."""
    all_ok = True
    with httpx.Client(base_url=base_url, timeout=10.0) as http:
        for event in events:
            label = f"call {event.get('call_id')} {event.get('state') or event.get('event_type') or '?'}"
            try:
                answer = http.post(
                    credentials.path, content=sign(_routable(event, credentials), credentials.dialpad_secret)
                )
            except httpx.HTTPError as error:
                report(f"{label}: cannot reach {base_url}: {error}")
                return False
            all_ok = all_ok and answer.status_code == 200
            report(f"{label}: {answer.status_code} {answer.text.strip()}")
    return all_ok


def _routable(event: dict[str, Any], credentials: Credentials) -> dict[str, Any]:
    """On the company endpoint an event finds its tenant by call center: name the tenant's, unless
    the event names a target of its own."""
    if credentials.call_center_id is None or event.get("proxy_target") or event.get("target"):
        return event
    return event | {"proxy_target": {"id": int(credentials.call_center_id), "type": "callcenter"}}
