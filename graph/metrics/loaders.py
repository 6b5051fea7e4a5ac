"""The per-request metrics DataLoader: every `Tenant.metrics` of one operation in one query batch."""

from __future__ import annotations

from collections.abc import Sequence

from strawberry.dataloader import DataLoader

from domain.errors import DomainError
from domain.metrics import Metrics
from graph.context import Context
from services.metrics import MetricsKey, metrics_batch

_KEY = "metrics"


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
