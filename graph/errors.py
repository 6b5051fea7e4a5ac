"""GraphQL errors: domain errors keep their message and gain `extensions.code`; the rest is masked."""

from __future__ import annotations

import logging

from graphql.error import GraphQLError
from strawberry.extensions import MaskErrors

from domain.errors import DialpadError, DomainError

log = logging.getLogger("calltrax.graphql")

MASKED_MESSAGE = "Unexpected error."


class DomainErrorMasking(MaskErrors):
    """Domain errors -> their code; GraphQL's own errors (syntax, validation, limits) pass; anything
    else is logged with its stack and replaced by a message that leaks no SQL or stack.

    Only MaskErrors' public hooks: every error is "masked" (its default `should_mask_error`), and
    `anonymise_error` decides what each becomes (tests/graph/test_library_contracts.py checks that
    MaskErrors still hands every error of a result to it)."""

    def __init__(self) -> None:
        super().__init__(error_message=MASKED_MESSAGE)

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        original = error.original_error
        if isinstance(original, DomainError):
            extensions: dict[str, object] = {"code": original.code}
            if original.fields:
                extensions["fields"] = original.fields
            if isinstance(original, DialpadError):
                extensions["dialpadStatus"] = original.status
                extensions["step"] = original.step
            return GraphQLError(original.message, nodes=error.nodes, path=error.path, extensions=extensions)
        if original is None or isinstance(original, GraphQLError):
            if error.extensions is None or "code" not in error.extensions:
                error.extensions = {**(error.extensions or {}), "code": "GRAPHQL_VALIDATION_FAILED"}
            return error
        log.error("unexpected error in GraphQL operation", exc_info=original)
        masked = super().anonymise_error(error)
        masked.extensions = {"code": "INTERNAL_SERVER_ERROR"}
        return masked
