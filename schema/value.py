"""Customer value and the workspace's value model (BG/NBD + Gamma-Gamma)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import Enum

import strawberry

from api import value as service
from api.errors import InputInvalid
from api.value import CustomerValueRecord, ValueModelRecord
from plugins.facts import FactsState
from schema.context import Info
from schema.errors import UserError, user_errors
from schema.permissions import IsAdmin


@strawberry.type(description="BG/NBD parameters (Fader, Hardie & Lee 2005).")
class BgNbdParams:
    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float


@strawberry.type(description="Gamma-Gamma spend parameters (Fader & Hardie's note).")
class GammaGammaParams:
    p: float
    q: float
    gamma: float
    log_likelihood: float


@strawberry.enum(description="How far to trust the value model's predictions (docs/metrics.md, Predictive CLV).")
class FitStatus(Enum):
    OK = "OK"
    DEGENERATE = "DEGENERATE"
    FAILED = "FAILED"


@strawberry.type(description="What the value model was fitted on.")
class ValueModelData:
    customers: int = strawberry.field(description="Customers with at least one purchase (the BG/NBD's data).")
    repeat_customers: int = strawberry.field(description="Of those, customers with repeat purchases.")
    spend_customers: int = strawberry.field(
        description="Of those, customers with a positive mean repeat spend (the Gamma-Gamma's data)."
    )
    repeat_purchases: int = strawberry.field(description="Repeat purchase days, all customers together.")


@strawberry.type(description="The workspace's value model, refreshed daily or by `refreshValueModel`.")
class ValueModel:
    status: FitStatus = strawberry.field(
        description="OK; DEGENERATE: fitted, but a parameter sits on a boundary (see `reasons`) and the predictions "
        "cannot be taken at face value; FAILED: no fit, no predictions."
    )
    reasons: list[str] = strawberry.field(description="Why the status is not OK, in words; empty when OK.")
    fitted_at: datetime | None = strawberry.field(description="When the models were fitted; null when the fit failed.")
    attempted_at: datetime = strawberry.field(description="When the fit was last attempted.")
    calibration_end: date = strawberry.field(description="Purchases up to this day (inclusive) were used.")
    horizon_weeks: int = strawberry.field(description="The horizon of expected purchases and predicted CLV.")
    annual_discount_rate: float = strawberry.field(description="Discount applied to future purchases, per year.")
    customers: int = strawberry.field(description="Customers with at least one purchase.")
    repeat_customers: int = strawberry.field(description="Of those, customers with repeat purchases.")
    data: ValueModelData
    error: str | None = strawberry.field(description="Why there is no fit (FAILED), e.g. no repeat purchase yet.")
    bgnbd: BgNbdParams | None
    gamma_gamma: GammaGammaParams | None

    @classmethod
    def of(cls, r: ValueModelRecord) -> ValueModel:
        bg, gg = r.params.get("bgnbd"), r.params.get("gamma_gamma")
        return cls(
            status=FitStatus(r.status),
            reasons=list(r.reasons),
            fitted_at=r.fitted,
            attempted_at=r.fitted_at,
            calibration_end=r.calibration_end,
            horizon_weeks=r.horizon_weeks,
            annual_discount_rate=r.annual_discount_rate,
            customers=r.customers,
            repeat_customers=r.repeat_customers,
            data=ValueModelData(
                customers=r.customers,
                repeat_customers=r.repeat_customers,
                spend_customers=r.spend_customers,
                repeat_purchases=r.repeat_purchases,
            ),
            error=r.error,
            bgnbd=BgNbdParams(**bg) if bg else None,
            gamma_gamma=GammaGammaParams(**gg) if gg else None,
        )


@strawberry.type(
    description="What a customer is worth: revenue so far (purchases and renewals minus refunds) and, "
    "when the workspace's value model is fitted, BG/NBD and Gamma-Gamma predictions."
)
class CustomerValue:
    revenue: Decimal = strawberry.field(description="Purchases and renewals minus refunds, so far.")
    orders: int = strawberry.field(description="Purchases so far.")
    first_purchase_at: datetime | None
    last_purchase_at: datetime | None
    repeat_purchases: int | None = strawberry.field(description="Distinct purchase days after the first, as fitted.")
    expected_purchases: float | None = strawberry.field(description="Expected purchases over the model's horizon.")
    p_alive: float | None = strawberry.field(description="Probability that the customer is still active (BG/NBD).")
    expected_spend: Decimal | None = strawberry.field(description="Expected value of a future purchase (Gamma-Gamma).")
    predicted_clv: Decimal | None = strawberry.field(
        description="Discounted value of the expected purchases over the horizon, × gross margin."
    )
    fit_status: FitStatus | None = strawberry.field(
        description="The status of the fit the predictions come from: DEGENERATE ones cannot be taken at face value "
        "(see valueModel.reasons); null before the first fit."
    )

    @classmethod
    def of(cls, facts: FactsState, v: CustomerValueRecord | None, model: ValueModelRecord | None) -> CustomerValue:
        def money(x: float | None) -> Decimal | None:
            return None if x is None else Decimal(str(round(x, 4)))

        return cls(
            revenue=facts.revenue.quantize(Decimal("0.0001")),
            orders=facts.counts.get("purchase", 0),
            first_purchase_at=facts.first_at.get("purchase"),
            last_purchase_at=facts.last_at.get("purchase"),
            repeat_purchases=v.frequency if v else None,
            expected_purchases=v.expected_purchases if v else None,
            p_alive=v.p_alive if v else None,
            expected_spend=money(v.expected_spend) if v else None,
            predicted_clv=money(v.predicted_clv) if v else None,
            fit_status=FitStatus(model.status) if model else None,
        )


@strawberry.input(description="Refit the value model now (ADMIN).")
class RefreshValueModelInput:
    calibration_end: date | None = strawberry.field(
        default=None, description="Use purchases up to this day (default today)."
    )
    horizon_weeks: int = service.DEFAULT_HORIZON_WEEKS
    annual_discount_rate: float = service.DEFAULT_ANNUAL_DISCOUNT


@strawberry.type(description="The refitted value model, or what was wrong.")
class RefreshValueModelPayload:
    value_model: ValueModel | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ValueMutation:
    @strawberry.mutation(
        description="Refit the BG/NBD and Gamma-Gamma models on the purchase history and recompute every customer's "
        "predictions (ADMIN). They are also refreshed daily.",
        permission_classes=[IsAdmin],
    )
    async def refresh_value_model(self, info: Info, input: RefreshValueModelInput) -> RefreshValueModelPayload:
        try:
            found = await service.refresh(
                info.context.workspace_id, input.calibration_end, input.horizon_weeks, input.annual_discount_rate
            )
        except InputInvalid as exc:
            return RefreshValueModelPayload(user_errors=user_errors(exc.problems))
        info.context.reset_loaders()
        return RefreshValueModelPayload(value_model=ValueModel.of(found))
