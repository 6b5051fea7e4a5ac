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
    else is logged with its stack and replaced by a message that leaks no SQL or stack."""

    def __init__(self) -> None:
        super().__init__(error_message=MASKED_MESSAGE)

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        processed: list[GraphQLError] = []
        for error in errors:
            original = error.original_error
            if isinstance(original, DomainError):
                extensions: dict[str, object] = {"code": original.code}
                if original.fields:
                    extensions["fields"] = original.fields
                if isinstance(original, DialpadError):
                    extensions["dialpadStatus"] = original.status
                    extensions["step"] = original.step
                processed.append(
                    GraphQLError(original.message, nodes=error.nodes, path=error.path, extensions=extensions)
                )
            elif original is None or isinstance(original, GraphQLError):
                if error.extensions is None or "code" not in error.extensions:
                    error.extensions = {**(error.extensions or {}), "code": "GRAPHQL_VALIDATION_FAILED"}
                processed.append(error)
            else:
                log.error("unexpected error in GraphQL operation", exc_info=original)
                masked = self.anonymise_error(error)
                masked.extensions = {"code": "INTERNAL_SERVER_ERROR"}
                processed.append(masked)
        return processed
