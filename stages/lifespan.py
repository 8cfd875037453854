"""`lifespan` — o lifespan do CRM: acquisition → activation → retention, and reactivation."""

from __future__ import annotations

from plugins.hookspecs import hookimpl
from plugins.types import LifecycleModel, Param, StageCategory
from stages import rules as r

C = StageCategory

MODEL = LifecycleModel(
    key="lifespan",
    name="Customer lifespan",
    description=(
        "Acquisition, activation and retention, with reactivation of churned customers: the customer's "
        "lifespan from first purchase to loyalty, and back from churn."
    ),
    version="1.0.0",
    stages=(
        r.stage("acquisition", "Acquisition", "Aquisição", C.PROSPECT, 1),
        r.stage("activation", "Activation", "Ativação", C.CUSTOMER, 2),
        r.stage("retention", "Retention", "Retenção", C.CUSTOMER, 3),
        r.stage("churned", "Churned", "Cliente perdido (churn)", C.CHURNED, 4),
        r.stage("reactivation", "Reactivation", "Reativação", C.CUSTOMER, 5),
    ),
    transitions=tuple(
        [
            *r.moves(
                "first_purchase",
                ["acquisition"],
                "activation",
                "The first purchase or a subscription started.",
                r.happened(*r.BUYING),
            ),
            *r.moves(
                "activated",
                ["activation"],
                "retention",
                "A second purchase or a renewal, or still engaged activation_days (30) after activation.",
                r.any_of(r.second_purchase_or_renewal, r.engaged_after_days("activation_days")),
            ),
            *r.moves("churn", ["activation", "retention", "reactivation"], "churned", r.CHURN_DESCRIPTION, r.churn),
            *r.moves("reactivated", ["churned"], "reactivation", r.WIN_BACK_DESCRIPTION, r.win_back),
            *r.moves(
                "retained_again",
                ["reactivation"],
                "retention",
                "A second purchase or a renewal after reactivating.",
                r.after_entering("purchase", "renewal"),
            ),
        ]
    ),
    initial_stage="acquisition",
    params=(
        Param(
            "activation_days",
            "int",
            30,
            "Days after activation at which a still-engaged customer is retained.",
            minimum=1,
            maximum=3650,
        ),
        r.CHURN_PARAM,
    ),
)


@hookimpl
def register_lifecycle_models() -> list[LifecycleModel]:
    return [MODEL]
