"""Hypothesis strategies for hostile values: extreme numbers and dates, NULs, surrogates, huge and deep data."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
from datetime import UTC, datetime
from typing import Any

from hypothesis import strategies as st

# Integers at the edges of every width a driver, PostgreSQL or a timestamp conversion might use.
EDGE_INTS = [
    0,
    -1,
    1,
    2**31 - 1,
    2**31,
    -(2**31) - 1,
    2**53 + 1,
    2**63 - 1,
    2**63,
    -(2**63) - 1,
    2**64,
    10**30,
    -(10**30),
    # Milliseconds of 9999-12-31T23:59:59.999Z and one past it; before year 1.
    253_402_300_799_999,
    253_402_300_800_000,
    -62_135_596_800_001,
]
# Dates PostgreSQL, Python or ISO 8601 parsers disagree on or refuse.
EDGE_DATES = [
    "9999-12-31T23:59:59Z",
    "9999-12-31T23:59:59-14:00",
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00+14:00",
    "0000-01-01T00:00:00Z",
    "10000-01-01T00:00:00Z",
    "+275760-09-13T00:00:00Z",
    "-0001-01-01T00:00:00Z",
    "2024-02-30T00:00:00Z",
    "2024-13-01T00:00:00Z",
    "2024-01-01T24:00:00Z",
    "2024-01-01T00:00:00+99:00",
    "2024-01-01T00:00:00.9999999999Z",
    "2024-01-01",
    "infinity",
    "-infinity",
    "epoch",
    "now",
    "",
    "1e400",
]

# Characters that break storage (NUL, lone surrogates) or layout (RTL, combining, emoji), and plain ones.
any_char = st.characters(codec=None, min_codepoint=0, max_codepoint=0x10FFFF)
nasty_char = st.sampled_from(
    ["\x00", "\ud800", "\udfff", "\u202e", "\u0301", "\ufeff", "\U0001f600", "%", "'", '"']
)
short_text = st.text(st.one_of(any_char, nasty_char), max_size=30)


def _incompressible(length: int) -> str:
    """`length` characters that do not compress (PostgreSQL compresses long values, so "x" * 3000
    fits an index entry where 3,000 random characters do not), the same for the same length."""
    return random.Random(length).randbytes(length // 2 + 1).hex()[:length]


huge_text = st.integers(min_value=2_000, max_value=70_000).map(_incompressible)
# Over Python's 4,300-digit limit for int(str): json.loads refuses it with a ValueError.
huge_int_literal = st.integers(min_value=4_301, max_value=6_000).map(lambda n: "9" * n)


def iso_datetimes() -> st.SearchStrategy[str]:
    """Any datetime Python can hold, with or without an offset, plus the edge spellings."""
    aware = st.datetimes(min_value=datetime.min, max_value=datetime.max, timezones=st.just(UTC))
    return st.one_of(
        st.sampled_from(EDGE_DATES),
        aware.map(lambda moment: moment.isoformat()),
        st.datetimes().map(lambda moment: moment.isoformat()),
    )


def numbers() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.sampled_from(EDGE_INTS),
        st.integers(),
        st.integers(min_value=-(2**80), max_value=2**80),
        st.floats(allow_nan=True, allow_infinity=True),
    )


def scalars() -> st.SearchStrategy[Any]:
    """One absurd JSON scalar."""
    return st.one_of(
        st.none(),
        st.booleans(),
        numbers(),
        iso_datetimes(),
        short_text,
        huge_text,
    )


def json_values(max_leaves: int = 8) -> st.SearchStrategy[Any]:
    """Any JSON value built from absurd scalars: objects where scalars belong, lists, nulls."""
    return st.recursive(
        scalars(),
        lambda children: st.one_of(
            st.lists(children, max_size=4), st.dictionaries(short_text, children, max_size=4)
        ),
        max_leaves=max_leaves,
    )


def deep(depth: int, *, kind: str) -> Any:
    """JSON nested `depth` levels (built iteratively: it is also sent past the recursion limit)."""
    value: Any = 1
    for _ in range(depth):
        value = [value] if kind == "list" else {"a": value}
    return value


def deep_json_text(depth: int) -> bytes:
    """Nesting as text, so depths past json.dumps' recursion limit can be sent too."""
    return b'{"a":' * depth + b"1" + b"}" * depth


def dumps(value: Any) -> bytes:
    """JSON as a client might send it: NaN and Infinity written as Python does, lone surrogates escaped."""
    return json.dumps(value, ensure_ascii=True).encode()


def encode_text(value: str) -> bytes:
    """UTF-8, lone surrogates kept as the invalid bytes a broken client would send."""
    return value.encode("utf-8", "surrogatepass")


# Raw JSON number spellings json.dumps never writes.
RAW_NUMBERS = [b"1e400", b"-1e400", b"1e-400", b"NaN", b"Infinity", b"-Infinity", b"0x10", b"01", b"1.", b"-"]
garbage_bytes = st.one_of(
    st.binary(max_size=300),
    st.sampled_from(
        [b"", b"\xff\xfe\x00", b"\x00" * 100, b"{", b"[", b'{"a":', b"null", b"[]", b'"x"', b"\xc0\xaf"]
    ),
)
content_types = st.one_of(
    st.sampled_from(
        [
            "application/json",
            "application/json; charset=latin-1",
            "application/json; charset=utf-16",
            "application/x-www-form-urlencoded",
            "multipart/form-data",
            "multipart/form-data; boundary=",
            "multipart/form-data; boundary=" + "b" * 300,
            "text/plain",
            "text/html",
            "application/xml",
            "application/octet-stream",
            "application/graphql",
            "application/graphql-response+json",
            "*/*",
            "",
            ";;;",
            "application/json; charset=\x00",
        ]
    ),
    short_text.filter(lambda text: "\r" not in text and "\n" not in text),
)


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def compact_jwt(header: Any, payload: bytes, secret: str, *, algorithm: str = "HS256") -> bytes:
    """A JWT with any header and payload bytes, signed with `secret` (PyJWT refuses to sign odd claims).
    `none` leaves the signature empty; HS384/HS512 use the matching hash."""
    signing_input = _b64(dumps(header)) + b"." + _b64(payload)
    if algorithm == "none":
        return signing_input + b"."
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[algorithm]
    return signing_input + b"." + _b64(hmac.new(secret.encode(), signing_input, digest).digest())
