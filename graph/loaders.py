"""DataLoaders, made per HTTP request: each batch is one `WHERE key = ANY(...)` statement, answers in key order."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, TypeVar
from uuid import UUID

from strawberry.dataloader import DataLoader

from persistence import call_queries, lead_queries, notes
from persistence import tenants as tenant_store
from persistence.lead_queries import TimelineItem
from persistence.rows import CallRow, ContactRow, LeadRow, NoteRow, StatusChangeRow
from persistence.tenants import LeadWebhookRow, TenantRow
from services.deps import Deps
from services.lookups import KeyedRead, read_by_keys, read_lists_by_keys

if TYPE_CHECKING:
    from graph.context import Info

_Value = TypeVar("_Value")


def _loader(deps: Deps, read: KeyedRead[_Value], *, cache: bool) -> DataLoader[UUID, _Value | None]:
    return DataLoader(load_fn=partial(read_by_keys, deps, read), cache=cache)


def _list_loader(deps: Deps, read: KeyedRead[list[_Value]], *, cache: bool) -> DataLoader[UUID, list[_Value]]:
    return DataLoader(load_fn=partial(read_lists_by_keys, deps, read), cache=cache)


class Loaders:
    """The request's loaders. `cache=False` (websocket contexts, which live as long as the connection)
    still batches the loads of one event but never serves a stale row."""

    def __init__(self, deps: Deps, *, cache: bool = True) -> None:
        self.tenant: DataLoader[UUID, TenantRow | None] = _loader(deps, tenant_store.get_tenants, cache=cache)
        self.lead: DataLoader[UUID, LeadRow | None] = _loader(deps, lead_queries.get_leads, cache=cache)
        self.contact: DataLoader[UUID, ContactRow | None] = _loader(
            deps, lead_queries.get_contacts, cache=cache
        )
        self.call: DataLoader[UUID, CallRow | None] = _loader(deps, call_queries.get_calls, cache=cache)
        self.calls_by_lead: DataLoader[UUID, list[CallRow]] = _list_loader(
            deps, call_queries.calls_for_leads, cache=cache
        )
        self.legs_by_call: DataLoader[UUID, list[CallRow]] = _list_loader(
            deps, call_queries.legs_of_calls, cache=cache
        )
        self.notes_by_lead: DataLoader[UUID, list[NoteRow]] = _list_loader(
            deps, notes.notes_for_leads, cache=cache
        )
        self.status_changes_by_lead: DataLoader[UUID, list[StatusChangeRow]] = _list_loader(
            deps, lead_queries.status_changes_for_leads, cache=cache
        )
        self.timeline_by_lead: DataLoader[UUID, list[TimelineItem]] = _list_loader(
            deps, lead_queries.timeline_for_leads, cache=cache
        )
        self.lead_webhooks_by_tenant: DataLoader[UUID, list[LeadWebhookRow]] = _list_loader(
            deps, tenant_store.list_lead_webhooks, cache=cache
        )


def loaders(info: Info) -> Loaders:
    """The loaders of this operation's context (made uncached on first use where get_context made none)."""
    context = info.context
    found = context.loaders.get("data")
    if found is None:
        found = context.loaders["data"] = Loaders(context.deps, cache=False)
    assert isinstance(found, Loaders)
    return found
