"""Building the Strawberry schema with its limits, masking and error logging."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    MaskErrors,
    MaxAliasesLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from api.settings import Settings
from schema.clean_input import CleanStrings
from schema.cost import QueryCost
from schema.lifecycle_mutations import LifecycleMutation
from schema.mutations import DataMutation
from schema.query import Query
from schema.scalars import SCALARS
from schema.segments import SegmentMutation
from schema.subscription import Subscription
from schema.value import ValueMutation
from schema.webhooks import WebhookMutation

SCHEMA_FILE = Path(__file__).with_name("schema.graphql")
log = logging.getLogger("jornada.graphql")


def is_unexpected(error: GraphQLError) -> bool:
    """An error that came from a bug, not from the request: masked in the response, logged."""
    original = error.original_error
    if original is None or isinstance(original, GraphQLError):
        return False
    return not (error.extensions or {}).get("code")


class JornadaSchema(strawberry.Schema):
    def process_errors(self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None) -> None:
        for error in errors:
            if is_unexpected(error):
                log.error("unexpected error at %s", error.path, exc_info=error.original_error)
            else:
                log.debug("request error: %s", error.message)


@strawberry.type
class Mutation(DataMutation, LifecycleMutation, SegmentMutation, ValueMutation, WebhookMutation):
    pass


class Limits(SchemaExtension):
    """The depth and alias rules, and the token limit of the parser, in one extension (each
    extension costs every request a little in every phase)."""

    def __init__(self, rules: list[Any], max_tokens: int) -> None:
        self.rules = tuple(rules)
        self.max_tokens = max_tokens

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        context.parse_options["max_tokens"] = self.max_tokens
        context.validation_rules = context.validation_rules + self.rules
        yield


def build_schema(settings: Settings | None = None) -> strawberry.Schema:
    settings = settings or Settings()
    # The limits' validation rules are classes made by their extension's constructor: made once
    # here, so that ValidationCache, keyed by the rules too, finds a validated document again
    # (one new class per request made it validate every request, 40% of a small query's time).
    limits = [
        *QueryDepthLimiter(max_depth=settings.max_query_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=settings.max_aliases).validation_rules,
    ]
    extensions: list[Any] = [
        lambda: Limits(limits, settings.max_query_tokens),
        CleanStrings,
        lambda: MaskErrors(should_mask_error=is_unexpected, error_message="Unexpected error."),
        ParserCache,
        ValidationCache,
        # After ValidationCache, which sets the validation's errors: the cost is counted only
        # for a valid document, before it runs.
        lambda: QueryCost(budget=settings.max_query_cost, page_size=settings.max_page_size),
    ]
    return JornadaSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        config=StrawberryConfig(relay_max_results=settings.max_page_size),
        scalar_overrides=SCALARS,
    )
