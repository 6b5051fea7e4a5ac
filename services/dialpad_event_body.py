"""A Dialpad event's webhook body: its JWT verified with the secret, or plain JSON where allowed."""

from __future__ import annotations

import json
import warnings
from contextlib import nullcontext
from datetime import datetime
from typing import Any

import jwt
from jwt.warnings import InsecureKeyLengthWarning

from domain.dialpad_events import MalformedEvent, storable_claims
from domain.errors import Unauthenticated

# Signature checks tolerate this much clock difference on `exp` / `nbf`.
CLOCK_LEEWAY_SECONDS = 30


def read_event_body(
    body: bytes, *, secret: str | None, allow_unsigned: bool, now: datetime
) -> tuple[dict[str, Any], bool]:
    """The event claims of a webhook body and whether it was signed.

    A compact JWT must be HS256 with `secret` (any other algorithm, `none`, a bad signature, an
    expired `exp` or a future `nbf` -> Unauthenticated); `iat`/`exp` are optional. Plain JSON is
    accepted only when `allow_unsigned`. Anything else -> MalformedEvent."""
    text = body.strip()
    if text.startswith(b"{"):
        if not allow_unsigned:
            raise Unauthenticated("unsigned events are refused: sign them with the tenant's webhook secret")
        try:
            claims = json.loads(text)
        except (ValueError, RecursionError) as error:
            raise MalformedEvent("the body is neither a JWT nor a JSON object") from error
        if not isinstance(claims, dict):
            raise MalformedEvent("the event must be a JSON object")
        return storable_claims(claims), False
    try:
        token = text.decode("ascii")
    except UnicodeDecodeError as error:
        raise MalformedEvent("the body is not a compact JWT") from error
    if not secret:
        if _is_jwt(token):
            raise Unauthenticated("this tenant has no Dialpad webhook secret to verify events with")
        raise MalformedEvent("the body is not a compact JWT")
    try:
        # The secret is whatever the tenant's Dialpad webhook was created with: a short one is the
        # provisioner's concern, not a reason to drop events, so PyJWT's key-length warning is muted.
        short_key = len(secret.encode()) < _HS256_KEY_BYTES
        with warnings.catch_warnings() if short_key else nullcontext():
            if short_key:
                warnings.simplefilter("ignore", InsecureKeyLengthWarning)
            # exp / nbf are checked below against our clock; Dialpad sends no audience.
            decoded = jwt.decode(
                token,
                secret,
                algorithms=["HS256"],
                options={"verify_exp": False, "verify_nbf": False, "verify_iat": False, "verify_aud": False},
            )
    except jwt.InvalidAlgorithmError as error:
        alg = jwt.get_unverified_header(token).get("alg")
        raise Unauthenticated(f"events must be signed with HS256, not {alg!r}") from error
    except jwt.InvalidSignatureError as error:
        raise Unauthenticated("the event's signature does not match the tenant's secret") from error
    except (jwt.DecodeError, RecursionError) as error:
        # RecursionError: claims nested past the stack (PyJWT's JSON reading lets it through).
        raise MalformedEvent("the body is not a readable JWT") from error
    except jwt.InvalidTokenError as error:
        raise Unauthenticated(f"the event token is invalid: {error}") from error
    claims = dict(decoded)
    epoch = now.timestamp()
    exp, nbf = claims.get("exp"), claims.get("nbf")
    if exp is not None and (not isinstance(exp, (int, float)) or exp < epoch - CLOCK_LEEWAY_SECONDS):
        raise Unauthenticated("the event token has expired")
    if nbf is not None and (not isinstance(nbf, (int, float)) or nbf > epoch + CLOCK_LEEWAY_SECONDS):
        raise Unauthenticated("the event token is not valid yet")
    return storable_claims(claims), True


# PyJWT warns below this HS256 key length (RFC 7518 3.2).
_HS256_KEY_BYTES = 32


def _is_jwt(token: str) -> bool:
    try:
        jwt.get_unverified_header(token)
    except jwt.DecodeError:
        return False
    return True
