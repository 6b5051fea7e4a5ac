"""Bounds on what one caller's GraphQL reads can take (issue 19): a query-cost limit and a per-user
concurrency limit, each refused before anything runs with its own `extensions.code`.

The cost is the rows an operation can return, estimated from its selection: a field with a `first`
argument returns that many (the default page when absent), a list field elsewhere `LIST_ESTIMATE`,
and sizes multiply through nesting, so 30 aliased `leads(first: 100)` with timelines are priced at
what they would read, not at their depth or alias count. Connection wrappers (`...Connection`,
`...Edge`, `PageInfo`) are not rows themselves. The statement timeout, the third bound, is the API
pool's (persistence/db.py) and answers QUERY_TIMEOUT through domain.errors.QueryTimeout.
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict, deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from graphql import ExecutionResult as GraphQLExecutionResult
from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    get_nullable_type,
    is_composite_type,
)
from graphql.utilities import get_operation_ast
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from graph.relay import DEFAULT_PAGE
from services.authenticate import bearer_token

# Rows assumed behind a list field that takes no `first` (a lead's calls, notes, timeline; a tenant's
# webhooks): most hold a handful, and the estimate only has to rank operations, not count them.
LIST_ESTIMATE = 5
TOO_COSTLY = "QUERY_TOO_COSTLY"
TOO_MANY_CONCURRENT = "TOO_MANY_CONCURRENT_REQUESTS"
# Requests of one caller that may wait for a running slot, per slot.
LINE_PER_SLOT = 4
# The name under which the composition root hands a `ReadLimits` to requests (lifespan state).
STATE_KEY = "read_limits"


@dataclass
class ReadLimits:
    """One per process: the bounds, and what each caller has running and waiting now.

    A caller's request past its running limit waits in line (`LINE_PER_SLOT` per running slot),
    which costs nothing while it waits: a dashboard firing its queries together is served a few
    at a time, and a client keeping 8 heavy requests open gets 2 run at a time instead of spinning
    on refusals. Past the line a request is refused at once."""

    max_cost: int
    max_concurrent_per_user: int
    running: dict[str, int] = field(default_factory=dict)
    waiting: dict[str, deque[asyncio.Future[None]]] = field(default_factory=dict)

    def enter(self, caller: str) -> bool:
        """Count a query of `caller` as running; False (nothing counted) when it has its fill."""
        count = self.running.get(caller, 0)
        if count >= self.max_concurrent_per_user:
            return False
        self.running[caller] = count + 1
        return True

    async def enter_or_wait(self, caller: str) -> bool:
        """`enter`, else wait in the caller's line for a slot; False when the line is full too."""
        if self.enter(caller):
            return True
        line = self.waiting.setdefault(caller, deque())
        if len(line) >= LINE_PER_SLOT * self.max_concurrent_per_user:
            return False
        turn = asyncio.get_running_loop().create_future()
        line.append(turn)
        try:
            await turn
        except BaseException:
            if turn.done() and not turn.cancelled():
                # The slot was handed over just as this request gave up: pass it on.
                self.leave(caller)
            else:
                line.remove(turn)
                if not line:
                    self.waiting.pop(caller, None)
            raise
        return True

    def leave(self, caller: str) -> None:
        """End a running query of `caller`: its slot goes to the first in its line, if any."""
        line = self.waiting.get(caller)
        while line:
            turn = line.popleft()
            if not line:
                self.waiting.pop(caller, None)
            if not turn.done():
                turn.set_result(None)
                return
        count = self.running.get(caller, 0) - 1
        if count > 0:
            self.running[caller] = count
        else:
            self.running.pop(caller, None)


def _is_wrapper(named: GraphQLNamedType) -> bool:
    return named.name.endswith(("Connection", "Edge")) or named.name == "PageInfo"


def _int_argument(node: FieldNode, name: str, variables: Mapping[str, Any]) -> int | None:
    for argument in node.arguments or ():
        if argument.name.value != name:
            continue
        value = argument.value
        if isinstance(value, IntValueNode):
            return int(value.value)
        if isinstance(value, VariableNode):
            found = variables.get(value.name.value)
            return found if isinstance(found, int) and not isinstance(found, bool) else None
    return None


def _factor(
    definition: GraphQLField, parent: GraphQLNamedType, node: FieldNode, variables: Mapping[str, Any]
) -> int:
    """How many items this field returns per item of its parent."""
    if "first" in definition.args:
        first = _int_argument(node, "first", variables)
        # A negative or oversized `first` is refused by the resolver; price it as the default.
        return first if first is not None and first >= 0 else DEFAULT_PAGE
    if isinstance(get_nullable_type(definition.type), GraphQLList):
        # A connection's edges are its page, already counted at the connection.
        return 1 if _is_wrapper(parent) else LIST_ESTIMATE
    return 1


class _Pricing:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables

    def fields(
        self, selection_set: SelectionSetNode, parent: GraphQLNamedType, seen: frozenset[str]
    ) -> Iterator[tuple[FieldNode, GraphQLNamedType]]:
        """The field nodes of a selection set with the type each is selected on, fragments expanded."""
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                yield selection, parent
            elif isinstance(selection, InlineFragmentNode):
                on = self._type(
                    selection.type_condition.name.value if selection.type_condition else None, parent
                )
                yield from self.fields(selection.selection_set, on, seen)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is None or name in seen:
                    continue
                on = self._type(fragment.type_condition.name.value, parent)
                yield from self.fields(fragment.selection_set, on, seen | {name})

    def _type(self, name: str | None, default: GraphQLNamedType) -> GraphQLNamedType:
        found = self.schema.get_type(name) if name else None
        return found if found is not None else default

    def cost(self, selection_set: SelectionSetNode, parent: GraphQLNamedType, multiplier: int) -> int:
        total = 0
        for node, on in self.fields(selection_set, parent, frozenset()):
            if not isinstance(on, GraphQLObjectType | GraphQLInterfaceType):
                continue
            definition = on.fields.get(node.name.value)
            if definition is None:
                continue
            named = get_named_type(definition.type)
            if not is_composite_type(named) or node.selection_set is None:
                continue
            rows = multiplier * _factor(definition, on, node, self.variables)
            if not _is_wrapper(named):
                total += rows
            total += self.cost(node.selection_set, named, rows)
        return total


# Recent prices by document identity (the parser cache hands the same document for the same text),
# operation and variables: a client repeating an expensive query is refused without a new walk.
_PRICES: OrderedDict[tuple[int, str | None, str], tuple[Any, int]] = OrderedDict()
_KEEP_PRICES = 256


def _counted(variables: Mapping[str, Any] | None) -> str:
    """The variables a price reads (integers, `_int_argument`), as a key."""
    counted = {
        name: value
        for name, value in (variables or {}).items()
        if isinstance(value, int) and not isinstance(value, bool)
    }
    return json.dumps(counted, sort_keys=True)


def cached_query_cost(
    schema: GraphQLSchema, document: Any, operation_name: str | None, variables: Mapping[str, Any] | None
) -> int:
    """`query_cost`, remembered for the same document object, operation and integer variables (the
    only ones a price reads, `_int_argument`: a lead's page asked for each lead id is priced once)."""
    key = (id(document), operation_name, _counted(variables))
    found = _PRICES.get(key)
    if found is not None and found[0] is document:
        _PRICES.move_to_end(key)
        return found[1]
    cost = query_cost(schema, document, operation_name, variables)
    _PRICES[key] = (document, cost)
    if len(_PRICES) > _KEEP_PRICES:
        _PRICES.popitem(last=False)
    return cost


# Prices over the limit by query text, operation and integer variables: a client repeating a refused
# query is refused at the HTTP door (graph/app.py, `known_refusal`) before Strawberry's pipeline, for
# microseconds instead of about 2 ms of the process's CPU, so a flood of them cannot take the event
# loop from other tenants' webhooks (tests/limits/test_read_isolation.py). The price depends on
# nothing else (not the caller), and the answer is the one the pipeline gives.
_REFUSED: OrderedDict[tuple[str, str | None, str], int] = OrderedDict()
_KEEP_REFUSED = 256
# Longer texts are not remembered (the memo must not hold 256 bodies of a megabyte each).
_REFUSED_TEXT = 64 * 1024


def _too_costly(cost: int, max_cost: int) -> GraphQLError:
    return GraphQLError(
        f"the query could return about {cost:,} rows, more than the {max_cost:,} one "
        "query may ask for: ask for smaller pages (`first`), fewer aliases or fewer nested lists",
        extensions={"code": TOO_COSTLY, "cost": cost, "maxCost": max_cost},
    )


def _remember_refusal(
    query: str | None,
    document: Any,
    operation_name: str | None,
    variables: Mapping[str, Any] | None,
    cost: int,
) -> None:
    """Remember a refused query under the operation it ran; a document of one operation also under
    no name (a request that names none runs it)."""
    if query is None or len(query) > _REFUSED_TEXT:
        return
    counted = _counted(variables)
    names = {operation_name}
    if sum(isinstance(node, OperationDefinitionNode) for node in document.definitions) == 1:
        names.add(None)
    for name in names:
        _REFUSED[(query, name, counted)] = cost
    while len(_REFUSED) > _KEEP_REFUSED:
        _REFUSED.popitem(last=False)


def known_refusal(
    query: str, operation_name: str | None, variables: Mapping[str, Any] | None, max_cost: int
) -> dict[str, Any] | None:
    """The answer (`data` null, the QUERY_TOO_COSTLY error) for a query priced over `max_cost`
    before; None when it was not (Strawberry then parses, validates and prices it)."""
    cost = _REFUSED.get((query, operation_name, _counted(variables)))
    if cost is None or cost <= max_cost:
        return None
    return {"data": None, "errors": [_too_costly(cost, max_cost).formatted]}


def query_cost(
    schema: GraphQLSchema, document: Any, operation_name: str | None, variables: Mapping[str, Any] | None
) -> int:
    """The estimated rows the operation can return (see the module docstring); 0 without one."""
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return 0
    root = schema.get_root_type(operation.operation)
    if root is None:
        return 0
    fragments = {
        definition.name.value: definition
        for definition in document.definitions
        if isinstance(definition, FragmentDefinitionNode)
    }
    return _Pricing(schema, fragments, variables or {}).cost(operation.selection_set, root, 1)


def _refusal(message: str, code: str, **details: object) -> GraphQLExecutionResult:
    return GraphQLExecutionResult(
        data=None, errors=[GraphQLError(message, extensions={"code": code, **details})]
    )


def _caller(context: Any) -> str:
    principal = getattr(context, "principal", None)
    if principal is not None:
        return f"user:{principal.user_id}"
    request = getattr(context, "request", None)
    client = getattr(request, "client", None)
    return f"address:{client.host if client else 'unknown'}"


class ReadLimitsExtension(SchemaExtension):
    """Prices each query before it runs and counts it against its caller while it runs. Without a
    `ReadLimits` in the request's state (a context built outside the app) nothing is limited."""

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context.context
        limits = getattr(getattr(getattr(context, "request", None), "state", None), STATE_KEY, None)
        if (
            not isinstance(limits, ReadLimits)
            or self.execution_context.operation_type is not OperationType.QUERY
        ):
            yield
            return
        cost = cached_query_cost(
            self.execution_context.schema._schema,
            self.execution_context.graphql_document,
            self.execution_context.operation_name,
            self.execution_context.variables,
        )
        if cost > limits.max_cost:
            self.execution_context.result = GraphQLExecutionResult(
                data=None, errors=[_too_costly(cost, limits.max_cost)]
            )
            _remember_refusal(
                self.execution_context.query,
                self.execution_context.graphql_document,
                self.execution_context.operation_name,
                self.execution_context.variables,
                cost,
            )
            yield
            return
        if getattr(context.request, "scope", {}).get(_GATED):
            # An HTTP request: `ReadGate` counted it (from before its authentication) already.
            yield
            return
        caller = _caller(context)
        if not limits.enter(caller):
            self.execution_context.result = _refusal(
                _too_many(limits),
                TOO_MANY_CONCURRENT,
                maxConcurrent=limits.max_concurrent_per_user,
            )
            yield
            return
        try:
            yield
        finally:
            limits.leave(caller)


_GATED = "calltrax.read_gate"


def _too_many(limits: ReadLimits) -> str:
    return (
        f"{limits.max_concurrent_per_user} queries of yours are running and "
        f"{LINE_PER_SLOT * limits.max_concurrent_per_user} waiting; retry when one has answered"
    )


class ReadGate:
    """ASGI wrapper of `POST/GET /graphql` counting each request against its caller from its start
    (authentication, parsing and validation included), so a caller's requests past its limit wait
    without costing anything, and past its line are refused before any work: 429 with
    TOO_MANY_CONCURRENT_REQUESTS. The caller is the verified token's subject, else the client
    address (a request that then fails authentication is refused as usual)."""

    def __init__(self, app: ASGIApp, *, deps_key: str = "api_deps") -> None:
        self._app = app
        self._deps_key = deps_key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        request = Request(scope)
        limits = getattr(request.state, STATE_KEY, None)
        if not isinstance(limits, ReadLimits):
            await self._app(scope, receive, send)
            return
        caller = await self._caller(request)
        if not await limits.enter_or_wait(caller):
            body = {
                "errors": [
                    {
                        "message": _too_many(limits),
                        "extensions": {
                            "code": TOO_MANY_CONCURRENT,
                            "maxConcurrent": limits.max_concurrent_per_user,
                        },
                    }
                ]
            }
            await JSONResponse(body, status_code=429, headers={"Retry-After": "1"})(scope, receive, send)
            return
        scope[_GATED] = True
        try:
            await self._app(scope, receive, send)
        finally:
            limits.leave(caller)

    async def _caller(self, request: Request) -> str:
        deps = getattr(request.state, self._deps_key, None)
        token = bearer_token(request.headers.get("authorization"))
        tokens = getattr(deps, "tokens", None)
        if token is not None and tokens is not None:
            try:
                claims = await tokens.verify(token)
                return f"user:{claims['sub']}"
            except Exception:
                # Not a caller's token: the request is refused by authentication; count it by address.
                pass
        client = request.client
        return f"address:{client.host if client else 'unknown'}"
