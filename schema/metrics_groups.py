"""Breakdowns of the metrics: `metrics(by: {field: "industry"}) { groups { ... metrics { ... } } }`
answers every metric per group (definitions: docs/metrics.md, "Breakdowns")."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, cast

import strawberry
from strawberry.scalars import JSON

from api import metrics_groups as service
from api.errors import InputInvalid, Problem
from api.metrics_batch import GroupBatch
from schema.errors import bad_input

if TYPE_CHECKING:
    from schema.metrics import Metrics


@strawberry.input(description="How to split the metrics' customers into groups.")
class MetricsBy:
    field: str = strawberry.field(
        description="acquisitionChannel, industry, company, jobTitle, tag (a customer is in the group of each of "
        "its tags), stage (now, in the metrics' model), cohortMonth (the month of the first customer-category "
        "stage, in the workspace's calendar), or `attributes.<key>` (each value its group, or `bins`)."
    )
    bins: list[float] | None = strawberry.field(
        default=None,
        description="For a numeric attribute (a company's size, say): the edges of its bins, increasing; "
        "[10, 50, 250] makes < 10, 10 – 50, 50 – 250 and ≥ 250. Customers without a number are the group "
        "with no value.",
    )
    min_customers: int = strawberry.field(
        default=30, description="Groups with fewer customers than this are marked `tooFew` (still answered)."
    )

    def to_service(self) -> service.GroupBy:
        checked = service.checked(self.field, self.bins, self.min_customers)
        if isinstance(checked, Problem):
            raise bad_input(InputInvalid([checked]))
        return checked


@strawberry.type(description="One group of a breakdown and its metrics.")
class MetricsGroup:
    value: JSON | None = strawberry.field(
        description="The group's value (a text, number or boolean; for cohortMonth the month's first instant; for "
        "bins the bin's index); null for the customers without one."
    )
    label: str = strawberry.field(description="The value as shown: `(none)` for the customers without one.")
    customers: int = strawberry.field(description="Customers in the group (of the metrics' segment).")
    too_few: bool = strawberry.field(
        description="Fewer customers than `minCustomers`: its rates and averages rest on too few to mean much."
    )
    metrics: Annotated[Metrics, strawberry.lazy("schema.metrics")] = strawberry.field(
        description="Every metric over the group's customers (its CAC only when grouped by acquisitionChannel: "
        "spend is recorded per channel)."
    )


@strawberry.type(description="The metrics' customers split into groups.")
class MetricsGroups:
    field: str
    min_customers: int
    groups: list[MetricsGroup] = strawberry.field(
        description=f"The {service.MAX_GROUPS} largest groups at most, in the dimension's order (stages, months, "
        "bins) or largest first; the group without a value last."
    )
    omitted_groups: int = strawberry.field(description="Groups left out beyond the largest ones.")
    omitted_customers: int = strawberry.field(description="Customers in the groups left out.")


def groups_of(found: service.Groups) -> MetricsGroups:
    from schema.metrics import Metrics

    batch = GroupBatch.of(found)
    return MetricsGroups(
        field=found.by.field,
        min_customers=found.by.min_customers,
        groups=[
            MetricsGroup(
                value=cast(JSON, g.value),
                label=g.label,
                customers=g.customers,
                too_few=g.too_few,
                metrics=Metrics(scope=g.scope, cache={}, batch=batch, key=g.key),
            )
            for g in found.groups
        ],
        omitted_groups=found.omitted_groups,
        omitted_customers=found.omitted_customers,
    )
