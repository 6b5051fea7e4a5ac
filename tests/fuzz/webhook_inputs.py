"""Webhook inputs: lead bodies in every encoding and shape, Dialpad JWTs from garbage to signed-but-absurd."""

from __future__ import annotations

import json
import warnings
from dataclasses import replace
from typing import Any
from urllib.parse import quote, urlencode

import jwt
from hypothesis import strategies as st
from jwt.warnings import InsecureKeyLengthWarning

from domain.provisioning import CALL_STATES
from tests.dialpad_samples import INBOUND, OUTBOUND, sample
from tests.fuzz.strategies import (
    RAW_NUMBERS,
    compact_jwt,
    content_types,
    deep,
    deep_json_text,
    dumps,
    encode_text,
    garbage_bytes,
    huge_int_literal,
    huge_text,
    iso_datetimes,
    json_values,
    numbers,
    short_text,
)
from tests.fuzz.support import Probe
from tests.fuzz.world import DIALPAD_SECRET, World

LEAD_KEYS = [
    "name",
    "first_name",
    "last_name",
    "phone",
    "mobile",
    "email",
    "city",
    "source",
    "utm_source",
    "notes",
    "message",
    "external_id",
    "leadgen_id",
    "tags",
    "contact",
    "lead",
    "fields",
    "id",
]
VALUES = json_values(max_leaves=3)


def _unsendable(headers: tuple[tuple[str, str], ...]) -> bool:
    """Header values httpx refuses to write (control characters, non-ASCII, padding): sent raw."""
    return any(
        value != value.strip() or not all(" " <= char <= "~" for char in value) for _, value in headers
    )


def as_every_tenant(hooks: World, probes: list[Probe]) -> list[Probe]:
    """Each input also sent to the other webhook tenant (another timezone and phone region)."""
    first, second = hooks.slugs
    swaps = {first: second, second: first}
    token_a, token_b = hooks.lead_tokens
    swaps.update({token_a: token_b, token_b: token_a})
    sent = []
    for probe in probes:
        sent.append(probe)
        prefix, _, last = probe.path.rpartition("/")
        if last in swaps:
            sent.append(replace(probe, path=f"{prefix}/{swaps[last]}"))
    return sent


def _probe(
    kind: str, path: str, content_type: str | None, body: bytes, extra: tuple[tuple[str, str], ...] = ()
) -> Probe:
    headers = ((("Content-Type", content_type),) if content_type is not None else ()) + extra
    return Probe(kind, "POST", path, headers, body, raw=_unsendable(headers))


# --- lead webhook ---------------------------------------------------------------------------------

# Plausible values too, so some inputs are stored and go on to the lead's contact and events.
_LEAD_VALUES = st.one_of(VALUES, st.sampled_from(["+61430363930", "0412 345 678", "ana@example.com", "Ana"]))
# Up to 6 known fields (a dictionary over the names: a draw per optional field cost 16 ms an input).
lead_objects = st.dictionaries(
    st.sampled_from(LEAD_KEYS),
    st.one_of(_LEAD_VALUES, st.dictionaries(st.sampled_from(LEAD_KEYS), _LEAD_VALUES, max_size=4)),
    max_size=6,
)


def _form(data: dict[str, Any]) -> bytes:
    """Flat form fields (nested values written as JSON text, lone surrogates as invalid UTF-8)."""
    pairs = [(key, value if isinstance(value, str) else json.dumps(value)) for key, value in data.items()]
    return urlencode([(encode_text(key), encode_text(value)) for key, value in pairs]).encode()


def _multipart(data: dict[str, Any], boundary: str = "fuzzboundary") -> bytes:
    parts = []
    for key, value in data.items():
        text = value if isinstance(value, str) else json.dumps(value)
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n'.encode(
                "utf-8", "surrogatepass"
            )
            + encode_text(text)
            + b"\r\n"
        )
    return b"".join(parts) + f"--{boundary}--\r\n".encode()


def _raw_number(pair: tuple[str, bytes]) -> bytes:
    return b'{"name": "Raw Number", "' + pair[0].encode() + b'": ' + pair[1] + b"}"


def lead_bodies(world: World) -> st.SearchStrategy[Probe]:
    # Mostly a real token: bodies are read before the token is looked up, but only a real one stores.
    token = st.one_of(
        st.sampled_from(world.lead_tokens),
        st.sampled_from(world.lead_tokens),
        short_text.filter(lambda text: "\x00" not in text).map(
            lambda text: quote(encode_text(text), safe="")
        ),
    )
    idempotency = st.one_of(
        st.just(()),
        short_text.filter(lambda text: text.isprintable()).map(lambda key: (("Idempotency-Key", key),)),
    )

    def with_path(encoded: st.SearchStrategy[tuple[str, str | None, bytes]]) -> st.SearchStrategy[Probe]:
        return st.tuples(token, encoded, idempotency).map(
            lambda triple: _probe(
                f"lead {triple[1][0]}", f"/webhooks/lead/{triple[0]}", triple[1][1], triple[1][2], triple[2]
            )
        )

    objects = st.one_of(lead_objects, VALUES)
    json_bodies = st.tuples(
        st.just("json"), st.sampled_from(["application/json", "text/plain", None]), objects.map(dumps)
    )
    forms = st.tuples(st.just("form"), st.just("application/x-www-form-urlencoded"), lead_objects.map(_form))
    multiparts = st.tuples(
        st.just("multipart"),
        st.just("multipart/form-data; boundary=fuzzboundary"),
        lead_objects.map(_multipart),
    )
    raw_numbers = RAW_NUMBERS
    raw = st.tuples(
        st.just("raw number"),
        st.just("application/json"),
        st.one_of(
            st.tuples(st.sampled_from(["phone", "name", "lead"]), st.sampled_from(raw_numbers)).map(
                _raw_number
            ),
            huge_int_literal.map(lambda digits: b'{"phone": ' + digits.encode() + b"}"),
        ),
    )
    deep_bodies = st.tuples(
        st.just("deep"),
        st.sampled_from(["application/json", "application/x-www-form-urlencoded"]),
        st.one_of(
            st.integers(min_value=20, max_value=20_000).map(deep_json_text),
            st.integers(min_value=20, max_value=200).map(lambda depth: dumps(deep(depth, kind="list"))),
            st.integers(min_value=20, max_value=3_000).map(lambda depth: b"a" + b"[x]" * depth + b"=1"),
        ),
    )
    garbage = st.tuples(st.just("garbage"), content_types, garbage_bytes)
    mismatched = st.tuples(st.just("mismatched"), content_types, objects.map(dumps))
    huge = st.tuples(
        st.just("huge"),
        st.sampled_from(
            [
                "application/json",
                "application/x-www-form-urlencoded",
                "multipart/form-data; boundary=fuzzboundary",
            ]
        ),
        huge_text.map(lambda text: dumps({"notes": text})),
    )
    return st.one_of(
        with_path(json_bodies),
        with_path(forms),
        with_path(multiparts),
        with_path(raw),
        with_path(deep_bodies),
        with_path(garbage),
        with_path(mismatched),
        with_path(huge),
    )


# --- Dialpad --------------------------------------------------------------------------------------

TIME_FIELDS = [
    "event_timestamp",
    "date_started",
    "date_rang",
    "date_connected",
    "date_ended",
    "start_time",
    "timestamp",
]
TEXT_FIELDS = [
    "call_id",
    "state",
    "direction",
    "external_number",
    "internal_number",
    "event_type",
    "from_number",
    "to_number",
]
OTHER_FIELDS = [
    "master_call_id",
    "entry_point_call_id",
    "operator_call_id",
    "duration",
    "total_duration",
    "talk_time",
    "contact",
    "target",
    "proxy_target",
    "entry_point_target",
    "recording_details",
    "voicemail_link",
    "disposition",
    "dispositions",
    "call_dispositions",
    "user_id",
    "labels",
    "exp",
    "nbf",
    "iat",
]
SAMPLES = [sample(name) for name in OUTBOUND + INBOUND]
# The states CallTrax subscribes to, so events get past the first check and into the call projection.
REAL_STATES = list(CALL_STATES)


def _absurd_claims() -> st.SearchStrategy[dict[str, Any]]:
    """A real sample event with up to 6 fields replaced by absurd values of any type (a time where text
    belongs, an object where a number does: every field gets every kind) and up to 6 removed."""
    absurd = st.one_of(
        numbers(), iso_datetimes(), short_text, huge_text, VALUES, st.sampled_from(REAL_STATES)
    )
    fields = sorted({*TIME_FIELDS, *TEXT_FIELDS, *OTHER_FIELDS})
    # st.dictionaries over the field names, not fixed_dictionaries with each optional: a draw per
    # field made every input cost 16 ms of drawing.
    overrides = st.dictionaries(st.sampled_from(fields), absurd, max_size=6)
    deletions = st.lists(st.sampled_from(sorted(SAMPLES[0])), max_size=6)

    def merge(parts: tuple[dict[str, Any], dict[str, Any], list[str]]) -> dict[str, Any]:
        base, changes, removed = parts
        claims = {key: value for key, value in base.items() if key not in removed}
        claims.update(changes)
        return claims

    return st.tuples(st.sampled_from(SAMPLES), overrides, deletions).map(merge)


def _sign(
    claims: Any,
    *,
    secret: str = DIALPAD_SECRET,
    algorithm: str = "HS256",
    headers: dict[str, Any] | None = None,
) -> bytes:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        return jwt.encode(claims, secret, algorithm=algorithm, headers=headers).encode()


def _jwt_of(header: Any, payload: bytes) -> bytes:
    """A JWT with any header and payload bytes, signed with the tenant's secret (so only its content is wrong)."""
    return compact_jwt(header, payload, DIALPAD_SECRET)


def dialpad_bodies(world: World) -> st.SearchStrategy[Probe]:
    # A tenant's own endpoint, or (None) the company endpoint, which routes events to tenants itself.
    slug = st.one_of(
        st.sampled_from(world.slugs),
        st.sampled_from(world.slugs),
        st.none(),
        short_text.map(lambda text: quote(encode_text(text), safe="")),
    )
    content_type = st.one_of(
        st.none(), st.sampled_from(["application/jwt", "text/plain", "application/json"]), content_types
    )
    signed = _absurd_claims().map(_sign)
    wrong_key = st.tuples(_absurd_claims(), short_text.filter(bool)).map(
        lambda pair: _sign(
            pair[0], secret=pair[1].encode("utf-8", "surrogatepass").decode("utf-8", "replace")
        )
    )
    other_alg = st.tuples(st.sampled_from(SAMPLES), st.sampled_from(["HS384", "HS512", "none"])).map(
        lambda pair: _sign(pair[0], algorithm=pair[1], secret="" if pair[1] == "none" else DIALPAD_SECRET)
    )
    odd_header = st.tuples(st.sampled_from(SAMPLES), st.dictionaries(short_text, VALUES, max_size=3)).map(
        lambda pair: _sign(
            pair[0],
            headers={key: value for key, value in pair[1].items() if key not in ("alg", "typ")} or None,
        )
    )
    payload_not_object = st.one_of(
        VALUES.map(dumps),
        garbage_bytes,
        huge_int_literal.map(lambda digits: b'{"call_id": ' + digits.encode() + b"}"),
    ).map(lambda payload: _jwt_of({"alg": "HS256", "typ": "JWT"}, payload))
    header_absurd = st.one_of(
        VALUES, st.just({"alg": "HS256", "crit": ["x"]}), st.just({"alg": ["HS256"]})
    ).map(lambda header: _jwt_of(header, dumps(SAMPLES[0])))
    plain_json = st.sampled_from(SAMPLES).map(dumps)
    garbage = st.one_of(
        garbage_bytes,
        short_text.map(encode_text),
        st.lists(short_text.map(encode_text), min_size=2, max_size=5).map(lambda parts: b".".join(parts)),
    )
    named = {
        "signed absurd claims": signed,
        "wrong key": wrong_key,
        "other alg": other_alg,
        "odd header": odd_header,
        "payload no object": payload_not_object,
        "absurd header": header_absurd,
        "unsigned json": plain_json,
        "garbage": garbage,
    }
    # Signed absurd claims go deepest (past the signature into the projection): drawn 4 times as often.
    weighted = [*named.items(), *[("signed absurd claims", signed)] * 3]
    bodies = st.one_of([st.tuples(st.just(name), strategy) for name, strategy in weighted])
    return st.tuples(slug, content_type, bodies).map(
        lambda triple: _probe(
            f"dialpad {triple[2][0]}",
            "/webhooks/dialpad" if triple[0] is None else "/webhooks/dialpad/" + triple[0],
            triple[1],
            triple[2][1],
        )
    )
