"""Reading an inbound lead: the fields every lead source sends (a decoded body, see webhooks/lead_bodies.py), to one `LeadInput`."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from domain.emails import is_email
from domain.errors import BadInput
from domain.phones import Phone, normalize_phone

# The source's lead id and the idempotency key are in unique btree indexes, the source in
# ix_leads_metrics: their entries must stay well under a page.
MAX_ID_LENGTH = 255


@dataclass(frozen=True)
class LeadInput:
    """What a lead body says, as given (not yet normalised: the phone region is the tenant's)."""

    name: str | None = None
    phone: str | None = None
    email: str | None = None
    city: str | None = None
    source: str | None = None
    notes: str | None = None
    # The source's own id of the lead (`lead.id`, `external_id`, `leadgen_id`): repeats are duplicates.
    external_id: str | None = None
    # Kept on the contact: tags and the sender's contact id.
    contact_metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ContactPoint:
    """A lead's usable ways to reach the person: an E.164 phone and/or a normalised email."""

    phone: Phone | None
    email: str | None

    @property
    def phone_e164(self) -> str | None:
        return self.phone.e164 if self.phone else None

    @property
    def phone_invalid(self) -> bool:
        return self.phone is not None and not self.phone.valid

    @property
    def needs_region(self) -> bool:
        """Whether the phone is national, so its E.164 form depends on the tenant's region."""
        return self.phone is not None and not self.phone.raw.startswith("+")


# --- fields -------------------------------------------------------------------------------------

_NAME_KEYS = ("name", "full_name", "fullname", "your_name", "contact_name")
_FIRST_KEYS = ("first_name", "firstname", "fname", "given_name")
_LAST_KEYS = ("last_name", "lastname", "lname", "surname", "family_name")
_PHONE_KEYS = ("phone", "phone_number", "mobile", "mobile_phone", "mobile_number", "telephone", "tel", "cell")
_EMAIL_KEYS = ("email", "email_address", "e_mail")
_CITY_KEYS = ("city",)
_SOURCE_KEYS = ("source", "utm_source", "contact_source", "lead_source")
_NOTES_KEYS = ("notes", "message", "comments", "comment")
_EXTERNAL_ID_KEYS = ("external_id", "leadgen_id")
# Elementor's field types that say what a custom-id field holds.
_FIELD_TYPES = {"tel": "phone", "email": "email", "textarea": "message"}
_KEY_NOISE = re.compile(r"[\s\-]+")


def _normal_key(key: Any) -> str:
    return _KEY_NOISE.sub("_", str(key).strip().lower())


def _text(value: Any) -> str | None:
    """A scalar as trimmed text (numbers too: some forms send phones as numbers); None when empty."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        stripped = value.strip()
        return stripped or None
    return None


def _scalars(data: Mapping[str, Any]) -> dict[str, str]:
    """Top-level scalar fields by normalised key (first spelling wins)."""
    found: dict[str, str] = {}
    for key, value in data.items():
        text = _text(value)
        if text is not None:
            found.setdefault(_normal_key(key), text)
    return found


def _elementor_fields(data: Mapping[str, Any]) -> dict[str, str]:
    """Elementor's `fields[<id>][value]` (with `title` and `type`), or plain `fields[<name>]`."""
    fields = data.get("fields")
    found: dict[str, str] = {}
    if not isinstance(fields, Mapping):
        return found
    for key, entry in fields.items():
        if isinstance(entry, Mapping):
            value = _text(entry.get("value")) or _text(entry.get("raw_value"))
            names = [key, entry.get("id"), entry.get("title"), _FIELD_TYPES.get(str(entry.get("type")))]
        else:
            value, names = _text(entry), [key]
        if value is None:
            continue
        for name in names:
            if name:
                found.setdefault(_normal_key(name), value)
    return found


def _first(views: Iterable[Mapping[str, str]], keys: Iterable[str]) -> str | None:
    keys = tuple(keys)
    for view in views:
        for key in keys:
            if key in view:
                return view[key]
    return None


def _full_name(views: list[dict[str, str]]) -> str | None:
    name = _first(views, _NAME_KEYS)
    if name:
        return name
    parts = [_first(views, _FIRST_KEYS), _first(views, _LAST_KEYS)]
    return " ".join(part for part in parts if part) or None


def _tags(value: Any) -> list[str]:
    if isinstance(value, str):
        return [tag.strip() for tag in value.split(",") if tag.strip()]
    if isinstance(value, list):
        return [text for text in (_text(item) for item in value) if text]
    return []


def parse_lead(payload: Mapping[str, Any]) -> LeadInput:
    """Read the fields of any known body shape: nested {contact, lead}, flat, GoHighLevel, Elementor.

    GoHighLevel's `location` describes the sub-account (its address and country), not the lead, so
    nothing is read from it."""
    contact = payload.get("contact")
    lead = payload.get("lead")
    contact_view = _scalars(contact) if isinstance(contact, Mapping) else {}
    lead_view = _scalars(lead) if isinstance(lead, Mapping) else {}
    flat = _scalars(payload)
    custom = payload.get("customData")
    custom_view = _scalars(custom) if isinstance(custom, Mapping) else {}
    form_view = _elementor_fields(payload)

    person = [contact_view, flat, form_view, lead_view]
    about_lead = [lead_view, flat, custom_view, form_view, contact_view]
    metadata: dict[str, Any] = {}
    tags = _tags(payload.get("tags")) or (_tags(contact.get("tags")) if isinstance(contact, Mapping) else [])
    if tags:
        metadata["tags"] = tags
    sender_contact_id = _text(payload.get("contact_id"))
    if sender_contact_id:
        metadata["source_contact_id"] = sender_contact_id
    return LeadInput(
        name=_full_name(person),
        phone=_first(person, _PHONE_KEYS),
        email=_first(person, _EMAIL_KEYS),
        city=_first([contact_view, flat, form_view, lead_view, custom_view], _CITY_KEYS),
        source=_first(about_lead, _SOURCE_KEYS),
        notes=_first(about_lead, _NOTES_KEYS),
        external_id=lead_view.get("id") or _first([flat, lead_view], _EXTERNAL_ID_KEYS),
        contact_metadata=metadata,
    )


def check_lead_ids(lead: LeadInput) -> None:
    """422 when the source's lead id, or the source's name, is too long to be in an index (the source
    is in ix_leads_metrics, for the per-source figures)."""
    if lead.external_id is not None and len(lead.external_id) > MAX_ID_LENGTH:
        raise BadInput(
            "the lead's source id is too long", fields={"external_id": f"at most {MAX_ID_LENGTH} characters"}
        )
    if lead.source is not None and len(lead.source) > MAX_ID_LENGTH:
        raise BadInput(
            "the lead's source is too long", fields={"source": f"at most {MAX_ID_LENGTH} characters"}
        )


def normalize_email(raw: str | None) -> str | None:
    """Trimmed and lower-cased; None when empty."""
    if raw is None:
        return None
    email = raw.strip().lower()
    return email or None


def contact_point(lead: LeadInput, region: str | None) -> ContactPoint:
    """The lead's phone (E.164 in `region` for national numbers) and email; 422 when neither is usable.

    An unparsable phone is kept (flagged) when the email is good; a malformed email is dropped when
    the phone is good (the raw payload still holds both)."""
    phone = normalize_phone(lead.phone, region)
    email = normalize_email(lead.email)
    email_ok = email is not None and is_email(email)
    if (phone is not None and phone.valid) or email_ok:
        return ContactPoint(phone=phone, email=email if email_ok else None)
    fields: dict[str, str] = {}
    if phone is None and email is None:
        fields = {"phone": "required when there is no email", "email": "required when there is no phone"}
    else:
        fields["phone"] = "not a phone number" if phone is not None else "required when the email is unusable"
        fields["email"] = (
            "not an email address" if email is not None else "required when the phone is unusable"
        )
    raise BadInput("a lead needs a usable phone or email", fields=fields)
