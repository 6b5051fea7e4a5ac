"""Call dispositions: reading them from Dialpad events, normalising them, telling which ones book."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from domain.errors import BadInput

# Dialpad's payload shape for dispositions is undocumented; these are the keys seen or plausible.
DISPOSITION_KEYS = ("call_dispositions", "disposition", "dispositions")

_NON_WORD = re.compile(r"[^a-z0-9]+")


def normalize_disposition(raw: str) -> str:
    """`Sales~Demo booked` -> `demo_booked`, `Booked` -> `booked`: the last `~` segment in snake case."""
    last = str(raw).split("~")[-1]
    return _NON_WORD.sub("_", last.strip().lower()).strip("_")


def _strings(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, Mapping):
        # A disposition object: its name (or label / value) is the disposition.
        for key in ("name", "label", "value", "disposition"):
            if isinstance(value.get(key), str) and value[key].strip():
                return [value[key]]
        return []
    if isinstance(value, Iterable):
        return [text for item in value for text in _strings(item)]
    return [str(value)]


def dispositions_in(event: Mapping[str, Any]) -> tuple[str, ...]:
    """The raw dispositions an event carries (string or list under any of DISPOSITION_KEYS), in order."""
    found: list[str] = []
    for key in DISPOSITION_KEYS:
        for text in _strings(event.get(key)):
            if text not in found:
                found.append(text)
    return tuple(found)


def normalize_all(raw: Iterable[str]) -> tuple[str, ...]:
    """Normalised, de-duplicated, non-empty dispositions in their original order."""
    result: list[str] = []
    for text in raw:
        value = normalize_disposition(text)
        if value and value not in result:
            result.append(value)
    return tuple(result)


def is_booking(dispositions: Iterable[str], booked_keywords: Iterable[str]) -> bool:
    """True when any normalised disposition contains any of the tenant's booking keywords."""
    keywords = [normalize_disposition(word) for word in booked_keywords]
    keywords = [word for word in keywords if word]
    return any(word in value for value in dispositions for word in keywords)


@dataclass(frozen=True)
class Disposition:
    """A call's disposition as stored: normalised values (comma-joined), what was given, whether it books."""

    value: str
    raw: str
    booked: bool


def decide_disposition(raw: Sequence[str], booked_keywords: Iterable[str]) -> Disposition:
    """The disposition `raw` sets, under the tenant's booking keywords; BadInput when nothing is left."""
    normalized = normalize_all(raw)
    if not normalized:
        raise BadInput("the disposition is empty", fields={"disposition": "required"})
    return Disposition(
        value=",".join(normalized),
        raw="; ".join(text.strip() for text in raw),
        booked=is_booking(normalized, booked_keywords),
    )
