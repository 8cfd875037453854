"""Criteria shared by the built-in models (pure functions of facts and parameters)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from plugins.types import (
    Check,
    Criterion,
    CriterionResult,
    CustomerFacts,
    Param,
    Stage,
    StageCategory,
    Transition,
    fire,
    wait_until,
)

P = Mapping[str, Any]

BUYING = ("purchase", "subscription_started")
PAYING = ("purchase", "renewal", "subscription_started")


def stage(key: str, en: str, pt: str, category: StageCategory, order: int) -> Stage:
    return Stage(key, {"en": en, "pt-BR": pt}, category, order)


def moves(
    name: str, sources: Iterable[str | None], target: str, description: str, criterion: Criterion
) -> list[Transition]:
    """One transition per source stage, all with the same rule."""
    return [Transition(name, source, target, description, criterion) for source in sources]


def happened(*kinds: str) -> Criterion:
    """Any of `kinds` ever happened."""

    def check(f: CustomerFacts, p: P) -> bool:
        return f.count(*kinds) > 0

    return check


def engaged(f: CustomerFacts, p: P) -> bool:
    """Any interaction at all, of any kind (what MODELS.md calls "engaged")."""
    return f.last_engaged_at is not None


def since_entering(*kinds: str) -> Criterion:
    """Any of `kinds` happened at or after the customer entered the current stage."""

    def check(f: CustomerFacts, p: P) -> bool:
        return f.happened_since(f.stage_entered_at, *kinds)

    return check


def after_entering(*kinds: str) -> Criterion:
    """Any of `kinds` happened strictly after the customer entered the current stage."""

    def check(f: CustomerFacts, p: P) -> bool:
        last = f.last(*kinds)
        return last is not None and last > f.stage_entered_at

    return check


def any_of(*criteria: Criterion) -> Criterion:
    """Holds when any holds; otherwise asks to be looked at at the earliest recheck time."""

    def check(f: CustomerFacts, p: P) -> CriterionResult:
        recheck: datetime | None = None
        for criterion in criteria:
            result = criterion(f, p)
            if result is True or (isinstance(result, Check) and result.fired):
                return result
            if isinstance(result, Check) and result.recheck_at and (recheck is None or result.recheck_at < recheck):
                recheck = result.recheck_at
        return wait_until(recheck) if recheck else False

    return check


def lead_score_at_least(param: str) -> Criterion:
    def check(f: CustomerFacts, p: P) -> bool:
        return f.lead_score(p["lead_points"]) >= int(p[param])

    return check


def _matches(value: str | None, allowed: Iterable[str]) -> bool:
    wanted = {a.strip().casefold() for a in allowed}
    return value is not None and value.strip().casefold() in wanted


def in_icp(f: CustomerFacts, p: P) -> bool:
    """Job title in `icp_job_titles` or industry in `icp_industries` (any case)."""
    return _matches(f.job_title, p["icp_job_titles"]) or _matches(f.industry, p["icp_industries"])


def at_least_orders(param: str) -> Criterion:
    def check(f: CustomerFacts, p: P) -> bool:
        return f.orders >= int(p[param])

    return check


def second_distinct_product(f: CustomerFacts, p: P) -> bool:
    return len(f.products) >= 2


def second_purchase_or_renewal(f: CustomerFacts, p: P) -> bool:
    return f.orders >= 2 or f.count("renewal") > 0


def repeat_since_entering(f: CustomerFacts, p: P) -> bool:
    """A second purchase or a renewal, made after entering the stage: the purchase that won a
    churned customer back does not also count as its repeat purchase."""
    last = f.last("purchase", "renewal")
    return second_purchase_or_renewal(f, p) and last is not None and last > f.stage_entered_at


def revenue_at_least(param: str) -> Criterion:
    def check(f: CustomerFacts, p: P) -> bool:
        return f.revenue >= Decimal(str(p[param]))

    return check


def nps_at_least(param: str) -> Criterion:
    def check(f: CustomerFacts, p: P) -> bool:
        return f.latest_nps is not None and f.latest_nps >= int(p[param])

    return check


def good_review(f: CustomerFacts, p: P) -> bool:
    return f.latest_review_score is not None and f.latest_review_score >= 4


def subscription_ended(f: CustomerFacts, p: P) -> bool:
    """A cancellation since entering the stage, and no subscription still active."""
    return f.happened_since(f.stage_entered_at, "subscription_cancelled") and not f.subscription_active


def quiet_for(days_param: str, kinds: tuple[str, ...] | None) -> Criterion:
    """Nothing of `kinds` (None: any interaction) for `days_param` days: due that many days after
    the later of the last such interaction and the stage entry."""

    def check(f: CustomerFacts, p: P) -> CriterionResult:
        last = f.last(*kinds) if kinds is not None else f.last_engaged_at
        reference = max(last, f.stage_entered_at) if last is not None else f.stage_entered_at
        if kinds is not None and last is not None:
            reference = last  # the clock runs from the last payment, even across stages
        due = reference + timedelta(days=int(p[days_param]))
        return fire(due) if f.as_of >= due else wait_until(due)

    return check


def no_payment_for(days_param: str) -> Criterion:
    """No purchase, renewal or subscription start for `days_param` days, while no subscription is
    active (a subscriber who renews yearly is not churned at day 180)."""
    quiet = quiet_for(days_param, PAYING)

    def check(f: CustomerFacts, p: P) -> CriterionResult:
        return False if f.subscription_active else quiet(f, p)

    return check


def engaged_after_days(days_param: str) -> Criterion:
    """`days_param` days after entering the stage, if the customer engaged at all since entering.
    True from the due day when they had engaged by then; otherwise from their first interaction
    after it (never dated back to the due day, when the check found no engagement)."""

    def check(f: CustomerFacts, p: P) -> CriterionResult:
        due = f.stage_entered_at + timedelta(days=int(p[days_param]))
        if f.as_of < due:
            return wait_until(due)
        # The earliest interaction known to be after entering (first and last time per kind).
        known = [t for k, last in f.last_at.items() for t in (f.first_at.get(k), last) if t is not None]
        since = [t for t in known if t > f.stage_entered_at]
        return fire(max(due, min(since))) if since else False

    return check


CHURN_PARAM = Param(
    "churn_after_days",
    "int",
    180,
    "Days without a purchase or renewal after which a customer has churned (not while a subscription is active).",
    minimum=1,
    maximum=3650,
)
CHURN_DESCRIPTION = (
    "A subscription was cancelled and none is active, or no purchase or renewal for "
    "churn_after_days days (180) while no subscription is active."
)
WIN_BACK_DESCRIPTION = "A purchase, renewal or new subscription after churning."
ICP_PARAMS = (
    Param("icp_job_titles", "str_list", [], "Job titles of the ideal customer profile (any case)."),
    Param("icp_industries", "str_list", [], "Industries of the ideal customer profile (any case)."),
)
ADVOCATE_NPS = Param(
    "advocate_nps", "int", 9, "The NPS answer from which a customer is an advocate.", minimum=0, maximum=10
)
churn = any_of(subscription_ended, no_payment_for("churn_after_days"))
win_back = since_entering("purchase", "renewal", "subscription_started")
