"""What graph/errors.py and graph/execution.py rely on in Strawberry and graphql-core, checked directly:
a release that changes it fails here, naming what changed, before any behaviour test goes subtly wrong.
pyproject.toml caps both libraries below the next release; raising a cap starts with this file."""

from __future__ import annotations

import inspect

import graphql
from graphql import ExecutionResult, GraphQLError
from strawberry.extensions import MaskErrors
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from graph.errors import MASKED_MESSAGE, DomainErrorMasking
from graph.execution import SharedSubscriptionExecution


def test_mask_errors_hands_every_error_of_a_result_to_anonymise_error() -> None:
    """DomainErrorMasking overrides only `anonymise_error`, trusting MaskErrors to call it for every
    error (its default `should_mask_error` says mask all) and to keep what it returns, in order."""
    seen: list[str] = []

    class Recording(MaskErrors):
        def anonymise_error(self, error: GraphQLError) -> GraphQLError:
            seen.append(error.message)
            return GraphQLError(f"seen {error.message}")

    extension = Recording()
    result = ExecutionResult(data=None, errors=[GraphQLError("one"), GraphQLError("two")])
    extension.execution_context = type("Context", (), {"result": result})()  # type: ignore[assignment]
    hook = extension.on_operation()
    next(hook)
    assert next(hook, None) is None
    assert seen == ["one", "two"]
    assert [error.message for error in result.errors or []] == ["seen one", "seen two"]


def test_domain_error_masking_masks_what_it_does_not_know() -> None:
    error = GraphQLError("boom", original_error=RuntimeError("SELECT secret FROM t"))
    masked = DomainErrorMasking().anonymise_error(error)
    assert masked.message == MASKED_MESSAGE
    assert masked.extensions == {"code": "INTERNAL_SERVER_ERROR"}


def test_graphql_core_runs_subscription_events_through_execute_operation() -> None:
    """SharedSubscriptionExecution overrides `execute_operation(serially)` of graphql-core's Executor
    (through Strawberry's subclass, the class Strawberry's `execution_context_class` must extend),
    reading the attributes below; each event gets a copy with its own `root_value`. graphql-core calls
    these methods internal (not public API): this is the check that they still are what we use."""
    assert issubclass(SharedSubscriptionExecution, StrawberryGraphQLCoreExecutionContext)
    assert issubclass(StrawberryGraphQLCoreExecutionContext, graphql.Executor)
    parameters = list(inspect.signature(graphql.Executor.execute_operation).parameters)
    assert parameters == ["self", "serially"], parameters
    assert hasattr(graphql.Executor, "build_per_event_executor")
    source = inspect.getsource(graphql.Executor.build_per_event_executor)
    assert "root_value = payload" in source
    used = {"root_value", "operation", "context_value", "variable_values", "is_awaitable"}
    declared = set(inspect.signature(graphql.Executor.__init__).parameters) | set(
        inspect.get_annotations(graphql.Executor)
    )
    assert used <= declared, used - declared
