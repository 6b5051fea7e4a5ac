"""Subscription events executed once per identical subscription, not once per subscriber.

A thousand dashboards watching a tenant with the same document each ran the whole selection set
for every event (about 0.27 ms of CPU apiece, measured): a thousand subscribers saturated a core
at four events a second. Every subscriber of a tenant already receives the same payload object
per event (graph/subscriptions builds it once), so the result of executing one document on it
depends only on the variables and on who is asking. Subscribers that agree on all of that share
one execution: the first runs it, the others await the same result (data and errors alike).

"Who is asking" is the principal's role and visible tenants: every permission rule in
domain/roles.py reads only those. A socket's principal is kept current (graph/app.py follows its
LiveAccess), so a caller whose access changed is keyed by its new scope, never served from an
execution of its old one. Callers without a principal (public dashboard sockets) are never shared.
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from typing import Any

from graphql import ExecutionResult, GraphQLError, OperationType
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

# Recent events' results; an entry is useless once every subscriber has had the event.
_SHARED: OrderedDict[tuple[Any, ...], tuple[object, asyncio.Future[Any]]] = OrderedDict()
_KEEP = 1024
UNDELIVERED = "the event could not be delivered; resubscribe with your cursor"


def _scope(context: Any) -> tuple[str, tuple[str, ...]] | None:
    principal = getattr(context, "principal", None)
    if principal is None:
        return None
    return principal.role.value, tuple(sorted(str(tenant) for tenant in principal.tenant_ids))


class SharedSubscriptionExecution(StrawberryGraphQLCoreExecutionContext):
    """graphql-core builds one of these per subscription event (`build_per_event_executor`)."""

    def execute_operation(self, serially: bool | None = None) -> Any:
        root_value = self.root_value
        if self.operation.operation is not OperationType.SUBSCRIPTION or root_value is None:
            return super().execute_operation(serially)
        scope = _scope(self.context_value)
        if scope is None:
            return super().execute_operation(serially)
        variables = json.dumps(self.variable_values, sort_keys=True, default=str)
        key = (id(root_value), id(self.operation), variables, scope)
        entry = _SHARED.get(key)
        if entry is not None and entry[0] is root_value:
            return _reuse(entry[1])
        result = super().execute_operation(serially)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        _SHARED[key] = (root_value, future)
        if len(_SHARED) > _KEEP:
            _SHARED.popitem(last=False)
        if not self.is_awaitable(result):
            future.set_result(result)
            return result
        return _share(result, future, key)


async def _share(result: Any, future: asyncio.Future[Any], key: tuple[Any, ...]) -> ExecutionResult:
    try:
        done: ExecutionResult = await result
    except BaseException:
        # Nothing to share: later subscribers run the event themselves.
        _SHARED.pop(key, None)
        future.cancel()
        raise
    future.set_result(done)
    return done


async def _reuse(future: asyncio.Future[Any]) -> ExecutionResult:
    if not future.done():
        try:
            await asyncio.shield(future)
        except asyncio.CancelledError:
            if not future.cancelled():
                raise
    if future.cancelled():
        # The execution being shared failed outright (field errors would be in its result).
        return ExecutionResult(None, errors=[GraphQLError(UNDELIVERED)])
    result: ExecutionResult = future.result()
    return result
