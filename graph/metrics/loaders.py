"""Per-request DataLoaders: every `Tenant.metrics` of an operation in one statement, and a board's
column pages on one connection."""

from __future__ import annotations

from collections.abc import Sequence

from strawberry.dataloader import DataLoader

from domain.errors import DomainError
from domain.metrics import Metrics
from graph.context import Context
from persistence.rows import LeadRow
from services.metrics import MetricsKey, metrics_batch
from services.pipeline import ColumnPageKey, pipeline_pages
from services.tenant_scope import Page

_KEY = "metrics"
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
