"""`three-phase` — As três fases do CRM: (selection →) acquisition → retention → extension."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from plugins.hookspecs import hookimpl
from plugins.types import LifecycleModel, Param, StageCategory
from stages import rules as r

C = StageCategory


def _initial(params: Mapping[str, Any]) -> str:
    return "selection" if params.get("use_selection") else "acquisition"


MODEL = LifecycleModel(
    key="three-phase",
    name="The three phases of CRM",
    description=(
        "Acquire, retain, extend: win the customer, keep them buying, grow what they buy. An optional "
        "selection stage first sorts prospects by the ideal customer profile."
    ),
    version="1.0.0",
    stages=(
        r.stage("selection", "Selection", "Seleção", C.PROSPECT, 1),
        r.stage("acquisition", "Acquisition", "Aquisição", C.PROSPECT, 2),
        r.stage("retention", "Retention", "Retenção", C.CUSTOMER, 3),
        r.stage("extension", "Extension", "Expansão", C.CUSTOMER, 4),
        r.stage("churned", "Churned", "Cliente perdido (churn)", C.CHURNED, 5),
    ),
    transitions=tuple(
        [
            *r.moves(
                "selected",
                ["selection"],
                "acquisition",
                "Job title or industry in the ideal customer profile, or any interaction.",
                r.any_of(r.in_icp, r.engaged),
            ),
            *r.moves(
                "first_purchase",
                ["selection", "acquisition"],
                "retention",
                "The first purchase or a subscription started.",
                r.happened(*r.BUYING),
            ),
            *r.moves(
                "extension",
                ["retention"],
                "extension",
                "At least extension_orders (3) orders, or a second distinct product bought.",
                r.any_of(r.at_least_orders("extension_orders"), r.second_distinct_product),
            ),
            *r.moves("churn", ["retention", "extension"], "churned", r.CHURN_DESCRIPTION, r.churn),
            *r.moves("win_back", ["churned"], "retention", r.WIN_BACK_DESCRIPTION, r.win_back),
        ]
    ),
    initial_stage="acquisition",
    choose_initial=_initial,
    params=(
        Param("use_selection", "bool", False, "Start new customers in the selection stage."),
        *r.ICP_PARAMS,
        Param(
            "extension_orders",
            "int",
            3,
            "Orders from which a retained customer is in extension.",
            minimum=2,
            maximum=1000,
        ),
        r.CHURN_PARAM,
    ),
)


@hookimpl
def register_lifecycle_models() -> list[LifecycleModel]:
    return [MODEL]
