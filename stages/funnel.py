"""`funnel` — Lifecycle Stages (MQL/SQL), as HubSpot-style marketing and sales teams use them."""

from __future__ import annotations

from plugins.facts import DEFAULT_LEAD_POINTS
from plugins.hookspecs import hookimpl
from plugins.types import LifecycleModel, Param, StageCategory
from stages import rules as r

C = StageCategory
PROSPECTS = ("prospect", "lead", "mql", "sql", "opportunity")

MODEL = LifecycleModel(
    key="funnel",
    name="Lifecycle stages (MQL/SQL)",
    description=(
        "The marketing and sales funnel: prospect, lead, marketing-qualified lead, sales-qualified "
        "lead, opportunity, customer and advocate; churned customers and lost prospects."
    ),
    version="1.0.0",
    stages=(
        r.stage("prospect", "Prospect", "Prospect", C.PROSPECT, 1),
        r.stage("lead", "Lead", "Lead", C.PROSPECT, 2),
        r.stage("mql", "Marketing qualified lead", "Lead qualificado para marketing (MQL)", C.PROSPECT, 3),
        r.stage("sql", "Sales qualified lead", "Lead qualificado para vendas (SQL)", C.PROSPECT, 4),
        r.stage("opportunity", "Opportunity", "Oportunidade", C.PROSPECT, 5),
        r.stage("customer", "Customer", "Cliente", C.CUSTOMER, 6),
        r.stage("advocate", "Advocate", "Promotor", C.CUSTOMER, 7),
        r.stage("churned", "Churned", "Cliente perdido (churn)", C.CHURNED, 8),
        r.stage("lost", "Lost", "Oportunidade perdida", C.LOST, 9),
    ),
    transitions=tuple(
        [
            *r.moves(
                "engaged",
                ["prospect"],
                "lead",
                "Asked for a demo, had a meeting, a call or a chat, or reached lead_score (10) points.",
                r.any_of(
                    r.happened("demo_requested", "meeting", "call", "chat"),
                    r.lead_score_at_least("lead_score"),
                ),
            ),
            *r.moves(
                "qualified_by_marketing",
                ["lead"],
                "mql",
                "Reached mql_score (40) points, or job title or industry in the ideal customer profile.",
                r.any_of(r.lead_score_at_least("mql_score"), r.in_icp),
            ),
            *r.moves(
                "qualified_by_sales",
                ["mql"],
                "sql",
                "Asked for a demo or had a meeting after becoming an MQL.",
                r.after_entering("demo_requested", "meeting"),
            ),
            *r.moves("proposal", ["sql"], "opportunity", "A proposal was sent.", r.happened("proposal_sent")),
            *r.moves(
                "purchase",
                [*PROSPECTS, "lost"],
                "customer",
                "A purchase or a subscription started.",
                r.happened(*r.BUYING),
            ),
            *r.moves(
                "advocacy",
                ["customer"],
                "advocate",
                "Referred someone, or the latest NPS answer is at least advocate_nps (9).",
                r.any_of(r.happened("referral"), r.nps_at_least("advocate_nps")),
            ),
            *r.moves("churn", ["customer", "advocate"], "churned", r.CHURN_DESCRIPTION, r.churn),
            *r.moves("win_back", ["churned"], "customer", r.WIN_BACK_DESCRIPTION, r.win_back),
            *r.moves(
                "gone_quiet",
                PROSPECTS,
                "lost",
                "No interaction at all for lost_after_days (90) days.",
                r.quiet_for("lost_after_days", None),
            ),
            *r.moves(
                "re_engaged",
                ["lost"],
                "lead",
                "Filled in a form, asked for a demo or had a meeting after being lost.",
                r.since_entering("form_submitted", "demo_requested", "meeting"),
            ),
        ]
    ),
    initial_stage="prospect",
    params=(
        Param("lead_score", "int", 10, "Lead score from which a prospect is a lead.", minimum=0),
        Param("mql_score", "int", 40, "Lead score from which a lead is marketing-qualified.", minimum=0),
        Param(
            "lead_points",
            "int_map",
            dict(DEFAULT_LEAD_POINTS),
            "Lead-score points per interaction kind.",
            minimum=0,
            maximum=1000,
            keys_are_kinds=True,
        ),
        *r.ICP_PARAMS,
        r.ADVOCATE_NPS,
        r.CHURN_PARAM,
        Param(
            "lost_after_days",
            "int",
            90,
            "Days without any interaction after which a prospect is lost.",
            minimum=1,
            maximum=3650,
        ),
    ),
)


@hookimpl
def register_lifecycle_models() -> list[LifecycleModel]:
    return [MODEL]
