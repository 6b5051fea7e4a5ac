"""Reading lead bodies (pure): every shape lead sources send, forms' bracketed keys, contact points."""

from __future__ import annotations

import pytest

from domain.errors import BadInput
from domain.lead_intake import LeadInput, contact_point, parse_lead
from webhooks.lead_bodies import MalformedBody, UnsupportedMediaType, decode_body, nest_form_pairs


def test_nested_contact_and_lead() -> None:
    lead = parse_lead(
        {
            "contact": {"name": "Jane", "phone": "0430 363 930", "email": "J@x.com", "city": "Perth"},
            "lead": {"id": "fb-1", "source": "facebook", "notes": "call after 5"},
        }
    )
    assert lead == LeadInput(
        name="Jane",
        phone="0430 363 930",
        email="J@x.com",
        city="Perth",
        source="facebook",
        notes="call after 5",
        external_id="fb-1",
    )


def test_flat_fields_and_their_aliases() -> None:
    lead = parse_lead(
        {
            "first_name": "Sam",
            "last_name": "Lee",
            "phone_number": 61430363930,
            "email": "sam@x.com",
            "utm_source": "google",
            "message": "quote please",
            "leadgen_id": 998877,
        }
    )
    assert (lead.name, lead.phone, lead.source, lead.notes, lead.external_id) == (
        "Sam Lee",
        "61430363930",
        "google",
        "quote please",
        "998877",
    )
    assert parse_lead({"full_name": "A B", "mobile": "0400 000 000"}).name == "A B"
    assert parse_lead({"Full Name": "C D", "Mobile": "0400"}).phone == "0400"


def test_gohighlevel_never_reads_the_location() -> None:
    lead = parse_lead(
        {
            "contact_id": "ghl-123",
            "first_name": "Ana",
            "last_name": "Ruiz",
            "email": "ana@x.com",
            "phone": "(415) 555-0134",
            "tags": "new lead, solar ,",
            "contact_source": "GHL form",
            "customData": {"notes": "roof faces north"},
            "location": {"name": "Perth Solar", "city": "Perth", "country": "AU", "phone": "+61 8 9000 0000"},
        }
    )
    assert lead.name == "Ana Ruiz"
    assert lead.phone == "(415) 555-0134"
    assert lead.city is None
    assert lead.source == "GHL form"
    assert lead.notes == "roof faces north"
    assert lead.contact_metadata == {"tags": ["new lead", "solar"], "source_contact_id": "ghl-123"}


def test_form_pairs_nest_by_brackets() -> None:
    nested = nest_form_pairs(
        [
            ("fields[phone][value]", "0430"),
            ("fields[phone][title]", "Phone"),
            ("tags[]", "a"),
            ("tags[]", "b"),
            ("repeat", "1"),
            ("repeat", "2"),
            ("clash", "x"),
            ("clash[inner]", "y"),
        ]
    )
    assert nested == {
        "fields": {"phone": {"value": "0430", "title": "Phone"}},
        "tags": ["a", "b"],
        "repeat": ["1", "2"],
        "clash": "x",
        # A key whose shape clashes with an earlier one is kept whole, not lost.
        "clash[inner]": "y",
    }


def test_elementor_fields_by_id_title_or_type() -> None:
    payload = nest_form_pairs(
        [
            ("form[name]", "Contact form"),
            ("fields[name][id]", "name"),
            ("fields[name][value]", "Kim"),
            ("fields[field_8a1][id]", "field_8a1"),
            ("fields[field_8a1][type]", "tel"),
            ("fields[field_8a1][title]", "Best number"),
            ("fields[field_8a1][value]", "0430 363 930"),
            ("fields[field_c2][title]", "Email Address"),
            ("fields[field_c2][value]", "kim@x.com"),
            ("fields[message][type]", "textarea"),
            ("fields[message][value]", "hello"),
        ]
    )
    lead = parse_lead(payload)
    assert (lead.name, lead.phone, lead.email, lead.notes) == ("Kim", "0430 363 930", "kim@x.com", "hello")


def test_decode_body_by_content_type() -> None:
    assert decode_body("application/json; charset=utf-8", b'{"a": 1}') == {"a": 1}
    assert decode_body("application/x-www-form-urlencoded", b"a=1&b%5Bc%5D=2") == {"a": "1", "b": {"c": "2"}}
    # `curl -d '{...}'` labels JSON as a form.
    assert decode_body("application/x-www-form-urlencoded", b'{"a": 1}') == {"a": 1}
    assert decode_body(None, b' {"a": 1}') == {"a": 1}
    with pytest.raises(UnsupportedMediaType):
        decode_body("application/xml", b"<lead/>")
    with pytest.raises(UnsupportedMediaType):
        decode_body(None, b"a=1")


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[1, 2]",
        b'"text"',
        b'{"a": NaN}',
        b'{"a": "nul \\u0000 inside"}',
        b'{"a": "\\ud800 lone surrogate"}',
        b'{"a": ' + b"[" * 40 + b"1" + b"]" * 40 + b"}",
        b"[" * 5000 + b"]" * 5000,
        b"\xff\xfe",
    ],
)
def test_malformed_json_is_refused(body: bytes) -> None:
    with pytest.raises(MalformedBody):
        decode_body("application/json", body)


def test_malformed_forms_are_refused() -> None:
    with pytest.raises(MalformedBody):
        decode_body("application/x-www-form-urlencoded", b"a=%ff")
    with pytest.raises(MalformedBody):
        decode_body("multipart/form-data", b"--x\r\n")


def test_contact_point_normalises_with_the_region() -> None:
    point = contact_point(LeadInput(phone="0430 363 930", email=" Jo@Example.COM "), "AU")
    assert point.phone_e164 == "+61430363930"
    assert point.email == "jo@example.com"
    assert point.needs_region
    assert not contact_point(LeadInput(phone="+61 430 363 930"), None).needs_region


def test_unusable_phone_is_kept_when_the_email_is_good_and_bad_email_dropped_when_the_phone_is() -> None:
    kept = contact_point(LeadInput(phone="call me", email="a@b.co"), "AU")
    assert (kept.phone_e164, kept.phone_invalid, kept.email) == (None, True, "a@b.co")
    dropped = contact_point(LeadInput(phone="0430 363 930", email="not-an-email"), "AU")
    assert (dropped.phone_e164, dropped.email) == ("+61430363930", None)


@pytest.mark.parametrize(
    ("lead", "fields"),
    [
        (
            LeadInput(name="x"),
            {"phone": "required when there is no email", "email": "required when there is no phone"},
        ),
        (
            LeadInput(phone="12", email="nope"),
            {"phone": "not a phone number", "email": "not an email address"},
        ),
        (
            LeadInput(phone="12"),
            {"phone": "not a phone number", "email": "required when the phone is unusable"},
        ),
    ],
)
def test_neither_usable_phone_nor_email_names_the_fields(lead: LeadInput, fields: dict[str, str]) -> None:
    with pytest.raises(BadInput) as raised:
        contact_point(lead, "AU")
    assert raised.value.fields == fields
