"""Which tenant a company-wide Dialpad event belongs to: what the event says, and the order of the rules.

The company subscription delivers every call of the Dialpad company to one endpoint. An event is
routed, in this order, to:
1. the tenant whose call center is on the call (`target`, `entry_point_target`, `proxy_target`, or a
   `group_id` of `CallCenter:<id>`);
2. the tenant that already holds this leg or a leg linked to it (`master_call_id`,
   `entry_point_call_id`, `operator_call_id`), so every event of a call follows its first one;
3. the active tenant with an open lead at the call's external number, the newest lead when several
   tenants have one;
4. else the active tenant with the newest lead of any status at that number (a booked customer's
   confirmation call is still that tenant's);
5. else the company inbox, until a lead with that number arrives.
Internal calls (`is_internal`) go to the inbox as INTERNAL: stored, never applied or counted.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

# The call-leg fields that can name a call center, as `{id, type, ...}` objects.
_TARGET_FIELDS = ("target", "entry_point_target", "proxy_target")
_LINK_FIELDS = ("master_call_id", "entry_point_call_id", "operator_call_id")
_CALL_CENTER_GROUP = "callcenter:"


class RouteReason(StrEnum):
    """How an event found its tenant, or why it did not."""

    CALL_CENTER = "CALL_CENTER"
    LINKED_CALL = "LINKED_CALL"
    LEAD_NUMBER = "LEAD_NUMBER"
    CLOSED_LEAD_NUMBER = "CLOSED_LEAD_NUMBER"
    # Kept in the inbox:
    NO_TENANT = "NO_TENANT"
    INTERNAL = "INTERNAL"


def _id(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    text = str(value).strip()
    return text if text.isdigit() and len(text) <= 30 else None


def _is_call_center_type(value: Any) -> bool:
    # Dialpad spells it `callcenter` in the subscription enum; `call_center` is accepted too.
    return isinstance(value, str) and value.replace("_", "").lower() == "callcenter"


def call_center_ids(claims: Mapping[str, Any]) -> list[str]:
    """The Dialpad call-center ids the event names, in the order of the fields above, without repeats."""
    found: list[str] = []
    for field in _TARGET_FIELDS:
        target = claims.get(field)
        if isinstance(target, Mapping) and _is_call_center_type(target.get("type")):
            call_center = _id(target.get("id"))
            if call_center is not None and call_center not in found:
                found.append(call_center)
    group = claims.get("group_id")
    if isinstance(group, str) and group.lower().startswith(_CALL_CENTER_GROUP):
        call_center = _id(group[len(_CALL_CENTER_GROUP) :])
        if call_center is not None and call_center not in found:
            found.append(call_center)
    # The seed format names its call center directly.
    seed = _id(claims.get("call_center_id"))
    if seed is not None and seed not in found:
        found.append(seed)
    return found


def linked_call_ids(claims: Mapping[str, Any], call_id: str) -> list[str]:
    """This leg's id and the ids of the legs it links to."""
    ids = [call_id]
    for field in _LINK_FIELDS:
        linked = _id(claims.get(field))
        if linked is not None and linked not in ids:
            ids.append(linked)
    return ids


def is_internal(claims: Mapping[str, Any]) -> bool:
    """A call between two Dialpad users of the company: no customer on it."""
    return claims.get("is_internal") is True
