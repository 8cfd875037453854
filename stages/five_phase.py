"""`five-phase` — Gerenciamento de Ciclo de Vida do Cliente: acquisition to advocacy."""

from __future__ import annotations

from plugins.hookspecs import hookimpl
from plugins.types import LifecycleModel, Param, StageCategory
from stages import rules as r

C = StageCategory
PAYING_STAGES = ("activation", "retention", "growth", "advocacy")

MODEL = LifecycleModel(
    key="five-phase",
    name="Customer lifecycle management (five phases)",
    description=(
        "Acquisition, activation, retention, growth and advocacy: from the first purchase to customers "
        "who buy more and recommend the business."
    ),
    version="1.1.0",
    stages=(
        r.stage("acquisition", "Acquisition", "Aquisição", C.PROSPECT, 1),
        r.stage("activation", "Activation", "Ativação", C.CUSTOMER, 2),
        r.stage("retention", "Retention", "Retenção", C.CUSTOMER, 3),
        r.stage("growth", "Growth", "Crescimento", C.CUSTOMER, 4),
        r.stage("advocacy", "Advocacy", "Defesa da marca", C.CUSTOMER, 5),
        r.stage("churned", "Churned", "Cliente perdido (churn)", C.CHURNED, 6),
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
                "repeat",
                ["activation"],
                "retention",
                "A second purchase or a renewal, after the one that (re)activated the customer.",
                r.repeat_since_entering,
            ),
            *r.moves(
                "growth",
                ["retention"],
                "growth",
                "A second distinct product bought, or revenue of at least growth_revenue (1000).",
                r.any_of(r.second_distinct_product, r.revenue_at_least("growth_revenue")),
            ),
            *r.moves(
                "advocacy",
                ["growth"],
                "advocacy",
                "Referred someone, the latest NPS answer is at least advocate_nps (9), or a review of 4 or 5.",
                r.any_of(r.happened("referral"), r.nps_at_least("advocate_nps"), r.good_review),
            ),
            *r.moves("churn", PAYING_STAGES, "churned", r.CHURN_DESCRIPTION, r.churn),
            *r.moves("win_back", ["churned"], "activation", r.WIN_BACK_DESCRIPTION, r.win_back),
        ]
    ),
    initial_stage="acquisition",
    params=(
        Param(
            "growth_revenue", "decimal", "1000", "Revenue (workspace currency) from which a customer grows.", minimum=0
        ),
        r.ADVOCATE_NPS,
        r.CHURN_PARAM,
    ),
)


@hookimpl
def register_lifecycle_models() -> list[LifecycleModel]:
    return [MODEL]
