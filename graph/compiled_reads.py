"""Compiled reads: a query over the read schema answered by one SQL statement (docs/reads.md).

Strawberry parses, validates and authenticates as ever; then, before graphql-core would run the
resolvers, `CompiledReads` walks the operation's selection. When every root field and every field
under it is one it knows (`leads`, `calls`, `lead`, `call` and the lead, call, contact, note, status
change and timeline fields below them), it builds a plan (persistence/graph_reads.py), runs its one
statement and hands Strawberry the JSON text PostgreSQL built, which the view sends as it is
(graph/app.py). Anything else - another field, an argument it does not take, a directive other
than @skip/@include, a caller without a principal, any input the resolvers would refuse, a row a
root field needs that is missing - leaves the operation to the resolvers, whole, so answers and
errors stay theirs.

The tenant scope is `domain.roles.visible_tenant_ids` and `can_see_tenant`, the objects the
resolvers and services ask; the statement applies the scope they return.
"""

from __future__ import annotations

import json
import logging
import re
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLEnumType,
    GraphQLError,
    GraphQLField,
    GraphQLIncludeDirective,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSkipDirective,
    InlineFragmentNode,
    Node,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
)
from graphql.execution.values import (
    VariableValues,
    get_argument_values,
    get_directive_values,
    get_variable_values,
)
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionResult

from domain.errors import DomainError
from domain.roles import Principal, can_see_tenant, visible_tenant_ids
from graph.calls.query import CallFilterInput, call_filter
from graph.ids import parse_uuid
from graph.leads.query import LeadFilterInput, lead_filter
from graph.relay import decode_cursor, page_size
from persistence import graph_reads as plan
from persistence.call_queries import CallFilter
from persistence.errors import is_outage, sqlstate
from persistence.lead_queries import LeadFilter
from services.find_calls import check_call_filter
from services.find_leads import check_lead_filter

log = logging.getLogger("calltrax.graphql")
# PostgreSQL's statement_timeout (and cancellations) end a statement with this SQLSTATE.
QUERY_CANCELED = "57014"
_ROOT_FIELDS = {"leads": "leads", "calls": "calls", "lead": "leads", "call": "calls"}
_LIST_ARGUMENTS = frozenset({"tenantId", "filter", "first", "after"})
# Filter fields the compiler takes; any other one (added later) leaves the operation to the resolvers.
_FILTER_FIELDS: Mapping[str, frozenset[str]] = {
    "leads": frozenset({"status", "stage", "source", "createdFrom", "createdTo", "search"}),
    "calls": frozenset({"direction", "status", "disposition", "startedFrom", "startedTo", "leadId", "legs"}),
}

# Scalar fields that are a column (or persistence.graph_reads.DERIVED value) of their row, by type.
_COLUMNS: Mapping[str, frozenset[str]] = {
    "Lead": frozenset(
        [
            "id",
            "tenantId",
            "source",
            "status",
            "notes",
            "city",
            "externalId",
            "createdAt",
            "updatedAt",
            "statusChangedAt",
            "firstAttemptAt",
            "firstConnectedAt",
            "bookedAt",
            "slaBreachedAt",
            "speedToLeadSeconds",
            "stage",
        ]
    ),
    "Contact": frozenset(["id", "tenantId", "name", "phone", "phoneRaw", "email", "city", "createdAt"]),
    "LeadNote": frozenset(["id", "leadId", "body", "authorId", "authorName", "authorEmail", "createdAt"]),
    "LeadStatusChange": frozenset(["fromStatus", "toStatus", "changedBy", "reason", "changedAt"]),
    "TimelineEntry": frozenset({"at", "kind"}),
    "CallAgent": frozenset({"id", "name", "email"}),
    "Call": frozenset(
        [
            "id",
            "tenantId",
            "externalId",
            "direction",
            "status",
            "disposition",
            "dispositionRaw",
            "booked",
            "fromNumber",
            "toNumber",
            "externalNumber",
            "internalNumber",
            "startedAt",
            "connectedAt",
            "endedAt",
            "durationSeconds",
            "recordingUrl",
            "voicemailUrl",
            "voicemail",
            "isPrimaryLeg",
            "createdAt",
            "updatedAt",
        ]
    ),
}
# Object fields read through a relation of persistence.graph_reads.RELATIONS, by type.
_RELATIONS: Mapping[str, Mapping[str, str]] = {
    "Lead": {
        "contact": "lead.contact",
        "calls": "lead.calls",
        "leadNotes": "lead.lead_notes",
        "statusChanges": "lead.status_changes",
        "timeline": "lead.timeline",
    },
    "TimelineEntry": {"call": "entry.call", "note": "entry.note", "statusChange": "entry.status_change"},
    "Call": {"agent": "call.agent", "legs": "call.legs", "lead": "call.lead", "contact": "call.contact"},
}
_KINDS: Mapping[str, plan.Kind] = {
    "ID": "id",
    "String": "text",
    "DateTime": "datetime",
    "Float": "float",
    "Int": "int",
    "Boolean": "bool",
}


class _NotCompiled(Exception):
    """The operation is left to the resolvers."""


class CompiledJSON:
    """The `data` of an answer as PostgreSQL wrote it; graph/app.py sends the text unchanged."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def parsed(self) -> Any:
        return json.loads(self.text)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def _object_type(field: GraphQLField) -> GraphQLObjectType | None:
    kind = field.type
    while isinstance(kind, GraphQLNonNull | GraphQLList):
        kind = kind.of_type
    return kind if isinstance(kind, GraphQLObjectType) else None


def _column(field: GraphQLField, name: str) -> plan.Column:
    kind = field.type.of_type if isinstance(field.type, GraphQLNonNull) else field.type
    if isinstance(kind, GraphQLEnumType):
        labels = {
            str(getattr(value.value, "value", value.value)): label for label, value in kind.values.items()
        }
        return plan.Column(_snake(name), "text", labels)
    assert isinstance(kind, GraphQLScalarType)
    return plan.Column(_snake(name), _KINDS[kind.name])


# Made once per field: the schema does not change while the process runs.
_COLUMN_PLANS: dict[tuple[str, str], plan.Column] = {}


def _list_filter(root: str, given: Mapping[str, Any]) -> LeadFilter | CallFilter:
    """The `filter` argument as the resolvers read it (graph/leads/query.py, graph/calls/query.py) and
    checked as services check it; _NotCompiled for a field the compiler does not take."""
    if any(value is not None for key, value in given.items() if key not in _FILTER_FIELDS[root]):
        raise _NotCompiled(f"{root} filter {sorted(given)}")
    if root == "leads":
        if given.get("stage"):
            # Stage windows depend on each tenant's bounds: services.find_leads reads them first.
            raise _NotCompiled("leads filter stage")
        leads = lead_filter(
            LeadFilterInput(
                status=given.get("status"),
                source=given.get("source"),
                created_from=given.get("createdFrom"),
                created_to=given.get("createdTo"),
                search=given.get("search"),
            )
        )
        check_lead_filter(leads)
        return leads
    calls = call_filter(
        CallFilterInput(
            direction=given.get("direction"),
            status=given.get("status"),
            disposition=given.get("disposition"),
            started_from=given.get("startedFrom"),
            started_to=given.get("startedTo"),
            lead_id=given.get("leadId"),
            legs=bool(given.get("legs", False)),
        )
    )
    check_call_filter(calls)
    return calls


class _Walker:
    """Turns one operation's selection into a plan, or raises _NotCompiled."""

    def __init__(
        self,
        schema: Any,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: VariableValues,
        principal: Principal,
        slots: frozenset[str] = frozenset(),
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.principal = principal
        self.slots = slots

    def included(self, node: FieldNode | InlineFragmentNode | FragmentSpreadNode) -> bool:
        if not node.directives:
            return True
        for directive in node.directives:
            if directive.name.value not in ("skip", "include"):
                raise _NotCompiled(f"directive @{directive.name.value}")
        skip = get_directive_values(GraphQLSkipDirective, node, self.variables)
        if skip is not None and skip.get("if") is True:
            return False
        include = get_directive_values(GraphQLIncludeDirective, node, self.variables)
        return not (include is not None and include.get("if") is False)

    def collect(self, type_name: str, selection_sets: list[SelectionSetNode]) -> dict[str, list[FieldNode]]:
        """Fields by response key in first-seen order, fragments spread and @skip/@include applied."""
        grouped: dict[str, list[FieldNode]] = {}
        visited: set[str] = set()

        def visit(selection_set: SelectionSetNode) -> None:
            for selection in selection_set.selections:
                if not self.included(selection):  # type: ignore[arg-type]
                    continue
                if isinstance(selection, FieldNode):
                    key = selection.alias.value if selection.alias else selection.name.value
                    grouped.setdefault(key, []).append(selection)
                elif isinstance(selection, InlineFragmentNode):
                    condition = selection.type_condition
                    if condition is None or condition.name.value == type_name:
                        visit(selection.selection_set)
                elif isinstance(selection, FragmentSpreadNode):
                    name = selection.name.value
                    if name in visited:
                        continue
                    visited.add(name)
                    fragment = self.fragments[name]
                    if fragment.type_condition.name.value == type_name:
                        visit(fragment.selection_set)

        for selection_set in selection_sets:
            visit(selection_set)
        if len(grouped) > plan.MAX_KEYS:
            raise _NotCompiled("too many keys for one json_build_object")
        return grouped

    def subsets(self, nodes: list[FieldNode]) -> list[SelectionSetNode]:
        return [node.selection_set for node in nodes if node.selection_set is not None]

    def shape(self, type_: GraphQLObjectType, nodes: list[FieldNode]) -> plan.Shape:
        fields: list[tuple[str, plan.Field]] = []
        for key, group in self.collect(type_.name, self.subsets(nodes)).items():
            name = group[0].name.value
            if any(node.arguments for node in group):
                raise _NotCompiled(f"{type_.name}.{name} with arguments")
            if name == "__typename":
                fields.append((key, plan.Constant(type_.name)))
                continue
            relation = _RELATIONS.get(type_.name, {}).get(name)
            if relation is not None:
                target = _object_type(type_.fields[name])
                assert target is not None
                fields.append((key, plan.Related(relation, self.shape(target, group))))
                continue
            if name not in _COLUMNS.get(type_.name, ()):
                raise _NotCompiled(f"{type_.name}.{name}")
            column = _COLUMN_PLANS.get((type_.name, name))
            if column is None:
                column = _COLUMN_PLANS[(type_.name, name)] = _column(type_.fields[name], name)
            fields.append((key, column))
        return plan.Shape(tuple(fields))

    def root(self, field: GraphQLField, group: list[FieldNode]) -> plan.Root:
        node = group[0]
        name = node.name.value
        arguments = {argument.name.value for argument in node.arguments or ()}
        values = get_argument_values(field, node, self.variables)
        target = _object_type(field)
        assert target is not None
        table = _ROOT_FIELDS[name]
        scope = plan.Scope(visible_tenant_ids(self.principal))
        if name in ("lead", "call"):
            given = next(a.value for a in node.arguments or () if a.name.value == "id")
            slot = given.name.value if isinstance(given, VariableNode) else None
            return plan.ById(
                table,  # type: ignore[arg-type]
                parse_uuid(values["id"], field="id"),
                scope,
                self.shape(target, group),
                slot if slot in self.slots and len(group) == 1 else None,
            )
        if not arguments <= _LIST_ARGUMENTS:
            raise _NotCompiled(f"{name} with {sorted(arguments)}")
        where = _list_filter(name, values.get("filter") or {})
        first = page_size(values.get("first"))
        after = decode_cursor(values.get("after"))
        named = values.get("tenantId")
        tenant_id: UUID | None = None
        if named is not None:
            tenant_id = parse_uuid(named, field="tenantId")
            if not can_see_tenant(self.principal, tenant_id):
                raise _NotCompiled("FORBIDDEN tenant")
            scope = plan.Scope(frozenset({tenant_id}))
        return plan.Page(
            table,  # type: ignore[arg-type]
            scope,
            tenant_id if self.principal.is_admin else None,
            first,
            after,
            self.connection(target, group, after is not None),
            where,
        )

    def connection(
        self, type_: GraphQLObjectType, group: list[FieldNode], has_previous: bool
    ) -> tuple[tuple[str, plan.PageField], ...]:
        fields: list[tuple[str, plan.PageField]] = []
        for key, nodes in self.collect(type_.name, self.subsets(group)).items():
            name = nodes[0].name.value
            if name == "__typename":
                fields.append((key, plan.Constant(type_.name)))
            elif name == "totalCount":
                fields.append((key, plan.TotalCount()))
            elif name == "edges":
                edge_type = _object_type(type_.fields["edges"])
                node_type = _object_type(edge_type.fields["node"]) if edge_type else None
                assert edge_type is not None
                assert node_type is not None
                edge: list[tuple[str, plan.EdgeField]] = []
                for edge_key, edge_nodes in self.collect(edge_type.name, self.subsets(nodes)).items():
                    edge_name = edge_nodes[0].name.value
                    if edge_name == "__typename":
                        edge.append((edge_key, plan.Constant(edge_type.name)))
                    elif edge_name == "cursor":
                        edge.append((edge_key, plan.Cursor()))
                    else:
                        edge.append((edge_key, plan.Node(self.shape(node_type, edge_nodes))))
                fields.append((key, plan.Edges(tuple(edge))))
            else:
                info: list[tuple[str, plan.PageInfoField]] = []
                for info_key, info_nodes in self.collect("PageInfo", self.subsets(nodes)).items():
                    info_name = info_nodes[0].name.value
                    if info_name == "__typename":
                        info.append((info_key, plan.Constant("PageInfo")))
                    elif info_name == "hasPreviousPage":
                        info.append((info_key, plan.Constant(has_previous)))
                    else:
                        info.append((info_key, info_name))  # type: ignore[arg-type]
                fields.append((key, plan.PageInfo(tuple(info))))
        return tuple(fields)

    def operation(self, operation: OperationDefinitionNode) -> list[tuple[str, plan.Root]]:
        query_type = self.schema.query_type
        roots: list[tuple[str, plan.Root]] = []
        for key, group in self.collect(query_type.name, [operation.selection_set]).items():
            name = group[0].name.value
            if name == "__typename":
                roots.append((key, plan.Constant(query_type.name)))
            elif name in _ROOT_FIELDS:
                roots.append((key, self.root(query_type.fields[name], group)))
            else:
                raise _NotCompiled(f"Query.{name}")
        return roots


def compile_operation(
    schema: Any,
    operation: OperationDefinitionNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    raw_variables: Mapping[str, Any] | None,
    principal: Principal,
    slots: frozenset[str] = frozenset(),
) -> list[tuple[str, plan.Root]] | None:
    """The plan of a query operation, or None when the resolvers must answer it. `slots`: variables
    that are only ever a by-id root's `id` (`id_slots`), left as parameters the cache may rebind."""
    if operation.operation is not OperationType.QUERY:
        return None
    variables = get_variable_values(schema, operation.variable_definitions or (), dict(raw_variables or {}))
    if isinstance(variables, list):
        return None
    try:
        return _Walker(schema, fragments, variables, principal, slots).operation(operation)
    except (_NotCompiled, DomainError, GraphQLError):
        # DomainError: input a resolver refuses (a bad id, cursor or page size); GraphQLError: an
        # argument graphql-core cannot coerce. The resolvers answer both their own way.
        return None


def id_slots(
    operation: OperationDefinitionNode, fragments: Mapping[str, FragmentDefinitionNode]
) -> frozenset[str]:
    """Variables used nowhere but as the `id` of a `lead`/`call` root field of `operation`: a statement
    compiled for one value serves any other id (the scope, the fallbacks and the plan do not depend
    on which row it is; a missing or unseen row is found by the statement itself)."""
    uses: dict[str, int] = {}
    as_id: dict[str, int] = {}

    def count(node: Any) -> None:
        if isinstance(node, VariableNode):
            uses[node.name.value] = uses.get(node.name.value, 0) + 1
            return
        for key in node.keys:
            value = getattr(node, key, None)
            for child in value if isinstance(value, tuple | list) else (value,):
                if isinstance(child, Node):
                    count(child)

    count(operation.selection_set)
    for fragment in fragments.values():
        count(fragment.selection_set)
    for selection in operation.selection_set.selections:
        if isinstance(selection, FieldNode) and selection.name.value in ("lead", "call"):
            for argument in selection.arguments or ():
                if argument.name.value == "id" and isinstance(argument.value, VariableNode):
                    name = argument.value.name.value
                    as_id[name] = as_id.get(name, 0) + 1
    return frozenset(name for name, n in as_id.items() if uses.get(name) == n)


# Statements by (document, operation, variables, caller): a dashboard sends the same few documents
# all day. The caller's role and tenants are part of the key: the scope and the fallbacks depend on
# them (domain.roles reads nothing else); nothing else does (no clock, no row: a missing row is found
# by the statement itself). A by-id root's id variable (`id_slots`) is left out of the key when it
# holds a well-formed id: the statement is bound to each request's id (`plan.Statement.bind`).
_STATEMENTS: OrderedDict[tuple[object, ...], plan.Statement | None] = OrderedDict()
_KEEP_STATEMENTS = 1024
# The id slots of each document and operation compiled so far (the HTTP view's shortcut reads them
# before any parsing).
_SLOTS: OrderedDict[tuple[str, str | None], frozenset[str]] = OrderedDict()
# Documents and variables longer than this are compiled each time: the cache must not hold 1,024
# request bodies of a megabyte each.
_CACHED_TEXT = 16 * 1024
_UNKNOWN = object()
# Documents and operation names (as requests give them: none for a document of one operation) a
# statement was compiled for, and the name of the operation that ran (the HTTP view's shortcut looks
# only for those, and keys the statement cache as Strawberry's request did).
_COMPILED: OrderedDict[tuple[str, str | None], str | None] = OrderedDict()
_ANY_ID = "\x00id"


def _cache_key(
    query: str,
    operation_name: str | None,
    variables: Mapping[str, Any] | None,
    principal: Principal,
    slots: frozenset[str],
) -> tuple[tuple[object, ...], dict[str, UUID]] | None:
    """The cache key of a request and the ids its slots hold; None when it may not be cached."""
    given = dict(variables or {})
    ids: dict[str, UUID] = {}
    for name in slots:
        value = given.get(name)
        if isinstance(value, str):
            try:
                ids[name] = parse_uuid(value, field="id")
            except DomainError:
                continue
            given[name] = _ANY_ID
    text = json.dumps(given, sort_keys=True, default=str)
    if len(query) + len(text) > _CACHED_TEXT:
        return None
    return (query, operation_name, text, principal.role, principal.tenant_ids), ids


def has_cached_statements(query: str, operation_name: str | None) -> bool:
    """Whether a request of this document and operation was compiled (cheap: no parsing)."""
    return (query, operation_name) in _COMPILED


def cached_statement(
    query: str,
    operation_name: str | None,
    variables: Mapping[str, Any] | None,
    principal: Principal,
    now: datetime,
) -> plan.Statement | None:
    """The statement an earlier request of the same document, operation, variables (bar by-id ids)
    and caller compiled, bound to this request's ids; None when there is none (the request then
    goes through Strawberry, which parses, validates, prices and compiles it)."""
    if (query, operation_name) not in _COMPILED:
        return None
    operation_name = _COMPILED[(query, operation_name)]
    slots = _SLOTS.get((query, operation_name))
    if slots is None:
        return None
    found = _cache_key(query, operation_name, variables, principal, slots)
    if found is None:
        return None
    key, ids = found
    statement = _STATEMENTS.get(key)
    if statement is None or any(name not in ids for name, _ in statement.slots):
        return None
    _STATEMENTS.move_to_end(key)
    return statement.bind(ids, now)


async def run_statement(deps: Any, statement: plan.Statement) -> str | None:
    """The statement's `data` text; None when a row is missing or it failed (the resolvers then answer,
    and report an outage or a timeout their way; anything else is a statement this module built
    wrong, answered correctly by them but logged as the bug it is)."""
    try:
        async with deps.reader() as connection:
            return await plan.read_json(connection, statement)
    except Exception as error:
        if not is_outage(error) and sqlstate(error) != QUERY_CANCELED:
            log.exception("a compiled read failed; the resolvers answered it")
        return None


class CompiledReads(SchemaExtension):
    """Answers a query over the read schema with one statement when the request allows it."""

    async def on_execute(self) -> AsyncIterator[None]:  # type: ignore[override]
        await self._try()
        yield

    def _compile(self, principal: Principal, ids: dict[str, UUID]) -> plan.Statement | None:
        execution = self.execution_context
        document = execution.graphql_document
        if document is None:
            return None
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        wanted = execution.operation_name
        chosen = [o for o in operations if wanted is None or (o.name is not None and o.name.value == wanted)]
        if len(chosen) != 1:
            return None
        fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        roots = compile_operation(
            execution.schema._schema, chosen[0], fragments, execution.variables, principal, frozenset(ids)
        )
        return plan.render(roots) if roots else None

    def _slots(self) -> frozenset[str]:
        execution = self.execution_context
        key = (execution.query or "", execution.operation_name)
        slots = _SLOTS.get(key)
        if slots is None:
            slots = frozenset()
            document = execution.graphql_document
            operations = [
                d
                for d in (document.definitions if document else ())
                if isinstance(d, OperationDefinitionNode)
            ]
            chosen = [
                o
                for o in operations
                if execution.operation_name is None
                or (o.name is not None and o.name.value == execution.operation_name)
            ]
            if len(chosen) == 1 and document is not None:
                fragments = {
                    d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
                }
                slots = id_slots(chosen[0], fragments)
            if len(key[0]) <= _CACHED_TEXT:
                _SLOTS[key] = slots
                if len(_SLOTS) > _KEEP_STATEMENTS:
                    _SLOTS.popitem(last=False)
        return slots

    def _compiled(self) -> None:
        """Remember that this document and operation compiled, under the names a request may give."""
        execution = self.execution_context
        query, name = execution.query or "", execution.operation_name
        _COMPILED[(query, name)] = name
        document = execution.graphql_document
        operations = [
            d for d in (document.definitions if document else ()) if isinstance(d, OperationDefinitionNode)
        ]
        if len(operations) == 1:
            # A request naming no operation runs the only one.
            _COMPILED[(query, None)] = name
        while len(_COMPILED) > _KEEP_STATEMENTS:
            _COMPILED.popitem(last=False)

    async def _try(self) -> None:
        execution = self.execution_context
        context = execution.context
        principal = getattr(context, "principal", None)
        if not getattr(context, "compiled_reads", False) or principal is None:
            return
        if execution.result is not None:
            # An earlier extension answered already (graph/read_limits.py refused the query).
            return
        found = _cache_key(
            execution.query or "", execution.operation_name, execution.variables, principal, self._slots()
        )
        ids: dict[str, UUID] = {}
        if found is None:
            statement = self._compile(principal, ids)
        else:
            key, ids = found
            cached = _STATEMENTS.get(key, _UNKNOWN)
            if cached is _UNKNOWN:
                statement = self._compile(principal, ids)
                _STATEMENTS[key] = statement
                if len(_STATEMENTS) > _KEEP_STATEMENTS:
                    _STATEMENTS.popitem(last=False)
                if statement is not None:
                    self._compiled()
            else:
                _STATEMENTS.move_to_end(key)
                statement = cached if isinstance(cached, plan.Statement) else None
        if statement is None:
            return
        text = await run_statement(context.deps, statement.bind(ids, context.deps.clock.now()))
        if text is not None:
            execution.result = ExecutionResult(data=CompiledJSON(text), errors=None)  # type: ignore[arg-type]


def encoded_answer(response: object) -> str | None:
    """The response text when its `data` is compiled JSON (graph/app.py's encode_json), else None."""
    if not isinstance(response, dict) or not isinstance(response.get("data"), CompiledJSON):
        return None
    data: CompiledJSON = response["data"]
    if len(response) == 1:
        return '{"data":' + data.text + "}"
    return json.dumps({**response, "data": data.parsed()}, separators=(",", ":"))
