"""Fitting the value model and saying how far to trust it (pure: an RFM summary in, a `Fit` out).

BG/NBD (P(alive), expected purchases) is fitted on every customer with a purchase; Gamma-Gamma
(spend per purchase) only on those with repeat purchases and a positive mean repeat spend, so a
customer whose repeat purchases are all free cannot make the whole fit fail. A fit that
converges to a boundary of its parameters (a or b near 0, q huge or not above 1) is DEGENERATE,
with the reason in words; one without a BG/NBD fit is FAILED (docs/metrics.md, Predictive CLV).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from api import clv

log = logging.getLogger("jornada.value")

OK, DEGENERATE, FAILED = "OK", "DEGENERATE", "FAILED"
# Below this, BG/NBD's a or b sits on the boundary of its range: the likelihood is flat there.
BOUNDARY = 1e-3
# Above this, Gamma-Gamma's p or q has run off: the spread of spend between customers is not there.
RUNAWAY = 1e3

Predictions = tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]


@dataclass(frozen=True)
class Fit:
    status: str
    reasons: list[str]
    params: dict[str, Any]
    data: dict[str, int]
    predictions: Predictions | None = None  # p_alive, expected purchases, expected spend, CLV


def data_summary(rfm: clv.RFM[int]) -> dict[str, int]:
    """What the fit had to go on."""
    repeat = rfm.frequency > 0
    return {
        "customers": len(rfm.customers),
        "repeat_customers": int(np.count_nonzero(repeat)),
        "spend_customers": int(np.count_nonzero(repeat & (rfm.monetary > 0))),
        "repeat_purchases": int(rfm.frequency.sum()),
    }


def _bgnbd_boundary(bg: clv.BGNBDParams) -> list[str]:
    reasons = []
    if bg.a < BOUNDARY:
        reasons.append(
            f"BG/NBD: no sign of customers dropping out (a = {bg.a:.2g}, about 0): P(alive) is about 1 for "
            "everyone, so it cannot tell who is slipping away."
        )
    if bg.b < BOUNDARY:
        reasons.append(f"BG/NBD: b = {bg.b:.2g}, about 0: every customer looks likely to drop out after any purchase.")
    return reasons


def _gamma_gamma_boundary(gg: clv.GammaGammaParams) -> list[str]:
    reasons = []
    if gg.q <= 1:
        reasons.append(f"Gamma-Gamma: q = {gg.q:.3g} is not above 1: the mean spend per purchase is not finite.")
    if gg.q > RUNAWAY or gg.p > RUNAWAY:
        reasons.append(
            f"Gamma-Gamma: p = {gg.p:.3g}, q = {gg.q:.3g} ran off: the data show no spread of spend between customers."
        )
    return reasons


def fit(rfm: clv.RFM[int], horizon_weeks: int, weekly_discount: float, margin: float) -> Fit:
    data = data_summary(rfm)
    if not data["repeat_customers"]:
        return Fit(FAILED, ["No customer has a repeat purchase yet: nothing to fit."], {}, data)
    try:
        bg = clv.fit_bgnbd(rfm.frequency, rfm.recency, rfm.T)
    except (ValueError, ArithmeticError) as exc:
        log.warning("BG/NBD fit failed: %s", exc)
        return Fit(FAILED, [f"The BG/NBD fit did not converge: {exc}"], {}, data)
    params: dict[str, Any] = {
        "bgnbd": {"r": bg.r, "alpha": bg.alpha, "a": bg.a, "b": bg.b, "log_likelihood": bg.log_likelihood}
    }
    reasons = _bgnbd_boundary(bg)
    alive = clv.p_alive(bg, rfm.frequency, rfm.recency, rfm.T)
    purchases = clv.expected_purchases(bg, horizon_weeks, rfm.frequency, rfm.recency, rfm.T)
    spend = value = None
    keep = (rfm.frequency > 0) & (rfm.monetary > 0)
    if not np.any(keep):
        reasons.append("Gamma-Gamma: no customer with a positive mean repeat spend: expected spend and CLV unknown.")
    else:
        try:
            gg = clv.fit_gamma_gamma(rfm.frequency[keep], rfm.monetary[keep])
        except (ValueError, ArithmeticError) as exc:
            log.warning("Gamma-Gamma fit failed: %s", exc)
            reasons.append(f"Gamma-Gamma: the fit did not converge ({exc}): expected spend and CLV unknown.")
        else:
            params["gamma_gamma"] = {"p": gg.p, "q": gg.q, "gamma": gg.v, "log_likelihood": gg.log_likelihood}
            gg_reasons = _gamma_gamma_boundary(gg)
            reasons += gg_reasons
            if gg.q > 1:
                spend = clv.expected_spend(gg, rfm.frequency, rfm.monetary)
                value = clv.discounted_clv(
                    bg,
                    gg,
                    rfm.frequency,
                    rfm.recency,
                    rfm.T,
                    rfm.monetary,
                    horizon_weeks,
                    weekly_discount,
                    margin,
                    step_weeks=4.0,
                )
    status = DEGENERATE if reasons else OK
    return Fit(status, reasons, params, data, (alive, purchases, spend, value))
