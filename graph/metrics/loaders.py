"""Per-request DataLoaders: every `Tenant.metrics` of an operation in one statement, and a board's
column pages on one connection."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from strawberry.dataloader import DataLoader

from domain.errors import DomainError
from domain.metrics import Metrics
from graph.context import Context, Info
from persistence.rows import LeadRow
from services.metrics import MetricsKey, metrics_batch
from services.pipeline import ColumnPageKey, pipeline_pages
from services.tenant_scope import Page

_KEY = "metrics"
# Fields of `Metrics` that need the breakdowns read (the range's calls), and the previous period.
_DETAIL_FIELDS = frozenset({"attemptsToContact", "missedInbound", "byAgent", "bySource"})
_PREVIOUS_FIELD = "previous"
# Fields of `Metrics` that need the time-to-first-contact figures computed.
_FIRST_CONTACT_FIELDS = frozenset({"timeToFirstContact", "businessHoursToFirstContact", "contactedWithinSla"})


def _field_names(selections: Iterable[Any]) -> Iterable[tuple[str, Any]]:
    """(name, selection) of every field selected, through fragments and inline fragments."""
    for selection in selections:
        name = getattr(selection, "name", None)
        if name is not None and not hasattr(selection, "type_condition"):
            yield name, selection
        else:
            yield from _field_names(getattr(selection, "selections", ()))


def _wants(selections: Iterable[Any]) -> tuple[bool, bool, bool, bool, bool]:
    """(breakdowns, first-contact figures, previous period, its breakdowns, its first-contact
    figures) selected."""
    details = contact = previous = previous_details = previous_contact = False
    for name, selection in _field_names(selections):
        if name in _DETAIL_FIELDS:
            details = True
        elif name in _FIRST_CONTACT_FIELDS:
            contact = True
        elif name == _PREVIOUS_FIELD:
            previous = True
            inner = _wants(selection.selections)
            previous_details = previous_details or inner[0]
            previous_contact = previous_contact or inner[1]
    return details, contact, previous, previous_details, previous_contact


def metrics_key(
    info: Info, tenant_id: UUID, range_from: datetime | None, range_to: datetime | None
) -> MetricsKey:
    """The key for this `metrics` field: breakdowns, first-contact figures and the previous period
    only when selected (an overview of every tenant reads none of them)."""
    details, contact, previous, previous_details, previous_contact = _wants(
        selection for field in info.selected_fields for selection in field.selections
    )
    return MetricsKey(
        tenant_id,
        range_from,
        range_to,
        details=details,
        previous=previous,
        previous_details=previous_details,
        first_contact=contact,
        previous_first_contact=previous_contact,
    )


_PAGES_KEY = "pipeline_pages"


def metrics_loader(context: Context) -> DataLoader[MetricsKey, Metrics]:
    """The request's loader (made on first use; the context lives as long as the request)."""
    loader: DataLoader[MetricsKey, Metrics] | None = context.loaders.get(_KEY)
    if loader is None:
        actor = context.require_principal()

        async def load(keys: Sequence[MetricsKey]) -> list[Metrics | BaseException]:
            answers: list[Metrics | DomainError] = await metrics_batch(context.deps, actor=actor, keys=keys)
            return list(answers)

        loader = DataLoader(load_fn=load)
        context.loaders[_KEY] = loader
    return loader


def pipeline_page_loader(context: Context) -> DataLoader[ColumnPageKey, Page[LeadRow]]:
    """The request's loader of board column pages: all columns of a board on one connection."""
    loader: DataLoader[ColumnPageKey, Page[LeadRow]] | None = context.loaders.get(_PAGES_KEY)
    if loader is None:
        actor = context.require_principal()

        async def load(keys: Sequence[ColumnPageKey]) -> list[Page[LeadRow] | BaseException]:
            return list(await pipeline_pages(context.deps, actor=actor, keys=keys))

        loader = DataLoader(load_fn=load)
        context.loaders[_PAGES_KEY] = loader
    return loader
