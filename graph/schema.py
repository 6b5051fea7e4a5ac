"""The schema: root types composed from each area's query, mutation and subscription classes."""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

import strawberry
from graphql import GraphQLError, StringValueNode
from graphql.validation import ASTValidationRule
from strawberry.extensions import (
    AddValidationRules,
    MaxTokensLimiter,
    ParserCache,
    SchemaExtension,
    ValidationCache,
)
from strawberry.extensions.max_aliases import create_validator as max_aliases_rule
from strawberry.extensions.query_depth_limiter import create_validator as max_depth_rule
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext, ExecutionResult
from strawberry.types.graphql import OperationType
from strawberry.utils.await_maybe import await_maybe

from domain.storable import unstorable
from graph.calls.mutations import CallsMutation
from graph.calls.query import CallsQuery
from graph.compiled_reads import CompiledReads
from graph.errors import DomainErrorMasking
from graph.execution import SharedSubscriptionExecution
from graph.leads.mutations import LeadsMutation
from graph.leads.query import LeadsQuery
from graph.metrics.mutations import MetricsMutation
from graph.metrics.query import MetricsQuery
from graph.notifications.mutations import NotificationsMutation
from graph.notifications.query import NotificationsQuery
from graph.provisioning.mutations import ProvisioningMutation
from graph.provisioning.query import ProvisioningQuery
from graph.public_dashboard.mutations import PublicDashboardMutation
from graph.public_dashboard.query import PublicDashboardQuery
from graph.public_dashboard.subscription import PublicDashboardSubscription
from graph.read_limits import ReadLimitsExtension
from graph.scalars import DateTime
from graph.subscriptions.subscription import Subscription as EventSubscription
from graph.tenants.mutations import TenantsMutation
from graph.tenants.query import TenantsQuery
from graph.users.mutations import UsersMutation
from graph.users.query import UsersQuery


@strawberry.type
class Query(
    UsersQuery,
    TenantsQuery,
    LeadsQuery,
    CallsQuery,
    NotificationsQuery,
    MetricsQuery,
    PublicDashboardQuery,
    ProvisioningQuery,
):
    pass


@strawberry.type
class Mutation(
    UsersMutation,
    TenantsMutation,
    LeadsMutation,
    CallsMutation,
    ProvisioningMutation,
    NotificationsMutation,
    MetricsMutation,
    PublicDashboardMutation,
):
    pass


@strawberry.type
class Subscription(EventSubscription, PublicDashboardSubscription):
    pass


class StorableStrings(ASTValidationRule):
    """String literals in the document must be storable (no `\\u0000`, no lone surrogate); the HTTP
    view checks variables the same way (graph/app.py)."""

    def enter_string_value(self, node: StringValueNode, *_args: object) -> None:
        reason = unstorable(node.value, max_depth=1)
        if reason:
            self.report_error(
                GraphQLError(f"a string argument {reason}", node, extensions={"code": "BAD_USER_INPUT"})
            )


# Depth 10 and 30 aliases (strawberry's QueryDepthLimiter and MaxAliasesLimiter rules). Made once:
# the validation cache keys on the rule classes, and those limiters make new classes per operation.
LIMIT_RULES: list[type[ASTValidationRule]] = [max_depth_rule(10, None), max_aliases_rule(30), StorableStrings]


class StreamResultHooks:
    """`async with` around one streamed result: the `on_stream_result` hooks of the operation's
    extensions, found once per operation. Strawberry looks every extension's hook up again, and wraps
    it in new context managers, for every result of every subscriber: measured, that was about 40%
    of the CPU an event cost a subscriber once its execution is shared (graph/execution.py)."""

    __slots__ = ("_hooks", "_result", "_running")

    def __init__(self, hooks: Sequence[Callable[[Any], Any]], result: Any) -> None:
        self._hooks = hooks
        self._result = result
        self._running: list[Any] = []

    async def __aenter__(self) -> None:
        for hook in self._hooks:
            steps = hook(self._result)
            if inspect.isasyncgen(steps):
                await anext(steps)
            elif inspect.isgenerator(steps):
                next(steps)
            elif inspect.isawaitable(steps):
                await steps
                continue
            else:
                continue
            self._running.append(steps)

    async def __aexit__(self, *exc_info: object) -> None:
        for steps in reversed(self._running):
            if inspect.isasyncgen(steps):
                async for _ in steps:
                    pass
            else:
                for _ in steps:
                    pass


class CodedParserCache(ParserCache):
    """Strawberry's ParserCache, except that a document that does not parse (a syntax error, more than
    the token limit) is left to Strawberry's own parsing step, which catches the error and hands it to
    the error masking (its `extensions.code`). ParserCache parses outside that step, so such an
    error skipped the masking and came back with no code at all. Only failures parse twice."""

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        with contextlib.suppress(GraphQLError):
            context.graphql_document = self.cached_parse_document(context.query, **context.parse_options)
        yield


class CallTraxExtensionsRunner(SchemaExtensionsRunner):
    """Strawberry's runner with the per-result work of streamed operations looked up once."""

    def __init__(self, execution_context: ExecutionContext, extensions: list[SchemaExtension]) -> None:
        super().__init__(execution_context=execution_context, extensions=extensions)
        self._stream_hooks = [
            extension.on_stream_result
            for extension in self.extensions
            if type(extension).on_stream_result is not SchemaExtension.on_stream_result
        ]
        self._with_results = [
            extension
            for extension in self.extensions
            if type(extension).get_results is not SchemaExtension.get_results
        ]

    def on_stream_result(self, result: Any) -> Any:
        return StreamResultHooks(self._stream_hooks, result)

    async def get_extensions_results(self, ctx: ExecutionContext) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for extension in self._with_results:
            data.update(await await_maybe(extension.get_results()))
        data.update(ctx.extensions_results)
        return data


class CallTraxSchema(strawberry.Schema):
    def create_extensions_runner(
        self, execution_context: ExecutionContext, extensions: list[SchemaExtension]
    ) -> SchemaExtensionsRunner:
        return CallTraxExtensionsRunner(execution_context, extensions)

    async def execute(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
        operation_extensions: dict[str, Any] | None = None,
    ) -> ExecutionResult:
        """One result for one HTTP request, never a subscription: Strawberry's view lets a POSTed
        subscription through to here and runs it as a query, whose stream graphql-core then refuses as
        an internal error. Refused here, the view answers 400 "subscriptions are not allowed when using
        POST". Websockets run subscriptions through `stream`/`subscribe`, not this."""
        allowed = {OperationType.QUERY, OperationType.MUTATION}
        if allowed_operation_types is not None:
            allowed &= set(allowed_operation_types)
        return await super().execute(
            query,
            variable_values,
            context_value,
            root_value,
            operation_name,
            allowed,
            operation_extensions,
        )

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Log nothing here: Strawberry would log every error, a caller's bad input included, with a
        stack trace; DomainErrorMasking already logs the unexpected ones, with their stack."""


schema = CallTraxSchema(
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    # Identical subscriptions share one execution per event (graph/execution.py).
    execution_context_class=SharedSubscriptionExecution,
    # DateTime arguments checked against the instants callers may give, in one place.
    config=StrawberryConfig(scalar_map={datetime: DateTime}),
    # Factories, so each operation gets fresh extension instances.
    extensions=[
        lambda: AddValidationRules(LIMIT_RULES),
        lambda: MaxTokensLimiter(max_token_count=2000),
        # Parsing and validating a 50-row page's document cost about a fifth of its CPU; both caches
        # key on the text (and the token limit), so a cached document has passed every limit.
        CodedParserCache,
        ValidationCache,
        # Query cost and per-user concurrency, priced with the variables (graph/read_limits.py).
        ReadLimitsExtension,
        DomainErrorMasking,
        # Queries over the read schema as one SQL statement when they can be (docs/reads.md).
        CompiledReads,
    ],
)
