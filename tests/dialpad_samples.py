"""Dialpad sample events (recorded beside the tests) and signing them as Dialpad does."""

from __future__ import annotations

import copy
import json
import warnings
from pathlib import Path
from typing import Any

import jwt
from jwt.warnings import InsecureKeyLengthWarning

SAMPLES = Path(__file__).parent / "webhooks" / "dialpad_samples"
OUTBOUND = ("outbound-1-calling", "outbound-2-connected", "outbound-3-hangup", "outbound-4-dispositions")
INBOUND = ("inbound-1-missed", "inbound-2-voicemail_uploaded")


def sample(name: str) -> dict[str, Any]:
    """A fresh copy of one sample event's claims."""
    return copy.deepcopy(json.loads((SAMPLES / f"{name}.json").read_text()))


def sign(claims: dict[str, Any], secret: str, *, algorithm: str = "HS256", **headers: Any) -> bytes:
    """The body Dialpad posts: a compact JWT of the event claims."""
    with warnings.catch_warnings():
        # Tests use short secrets on purpose (the tenant fixture's); Dialpad's are the tenant's business.
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        return jwt.encode(claims, secret, algorithm=algorithm, headers=headers or None).encode()
