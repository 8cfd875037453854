"""Predictive customer lifetime value: BG/NBD, Gamma-Gamma and discounted CLV (pure numpy/scipy).

The models, as docs/metrics.md describes them ("predictiveClv and the value model"):

* BG/NBD (Fader, Hardie & Lee 2005, "Counting your customers the easy way"): while alive, a
  customer buys as a Poisson process with rate lambda ~ Gamma(r, alpha); after each purchase they
  drop out with probability p ~ Beta(a, b). Gives the expected number of purchases in a future
  window and the probability that a customer is still alive.
* Gamma-Gamma (Fader, Hardie & Lee 2005, "RFM and CLV"; Fader & Hardie's note "The Gamma-Gamma
  model of monetary value"): a transaction's value is Gamma(p, nu) with nu ~ Gamma(q, gamma);
  gives the expected value of a customer's future transactions from the mean of their repeat ones.

Per-customer inputs (the usual RFM summary, see `rfm_from_transactions`): `frequency` x = number
of repeat purchases (same-day purchases merged; the first purchase is not a repeat), `recency`
t_x = time of the last purchase since the first, `T` = time from the first purchase to the end of
the calibration period (both in weeks), `monetary` = mean value of the repeat purchases (0 when
x = 0).

Numerics: all likelihoods are computed in log space (gammaln/betaln, the BG/NBD's ln(A1 + A2) with
np.logaddexp), every ratio raised to the power r + x is handled as a log, and the conditional
expectation uses Euler's transformation of the hypergeometric function, so customers with
hundreds or thousands of repeat purchases give finite values without floating-point warnings.
The fits optimise the logs of the parameters (so they stay positive) with L-BFGS-B and analytic
gradients, after collapsing identical customers into weighted rows; Nelder-Mead followed by an
L-BFGS-B polish is the fallback when the first run does not converge.

This module does no I/O and touches no database; callers feed it arrays.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Generic, SupportsFloat, TypeVar

import numpy as np
import numpy.typing as npt
from scipy.optimize import minimize
from scipy.special import digamma, expit, gammaln, hyp2f1

FloatArray = npt.NDArray[np.float64]
K = TypeVar("K", bound=Hashable)

# Bounds on the logs of the parameters while fitting: exp(+-30) is far outside any sensible fit
# and keeps every intermediate value finite.
_LOG_BOUND = 30.0
# expected_purchases divides by (a - 1); at a == 1 the expression is 0/0 with a smooth limit,
# so a is moved this far away from 1 (a relative change far below the fit's precision).
_A_NEAR_ONE = 1e-7


@dataclass(frozen=True, eq=False)
class RFM(Generic[K]):
    """Per-customer summary of a purchase history, in arrays aligned with `customers`."""

    customers: tuple[K, ...]
    frequency: FloatArray  # repeat purchases (same-day purchases merged)
    recency: FloatArray  # weeks from the first purchase to the last one (0 when frequency is 0)
    T: FloatArray  # weeks from the first purchase to the end of the calibration period
    monetary: FloatArray  # mean value of the repeat purchases (0 when frequency is 0)


@dataclass(frozen=True)
class BGNBDParams:
    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float  # sum over customers of ln L_i, as in Fader, Hardie & Lee (2005)


@dataclass(frozen=True)
class GammaGammaParams:
    p: float
    q: float
    v: float  # the gamma of Fader & Hardie's note (the scale of nu's Gamma distribution)
    log_likelihood: float  # sum of ln f(mean value | x) over the customers with x > 0


def _f64(values: npt.ArrayLike) -> FloatArray:
    return np.asarray(values, dtype=np.float64)


# ---------------------------------------------------------------------------------------------
# RFM summary


def _day(value: date) -> date:
    return value.date() if isinstance(value, datetime) else value


def rfm_from_transactions(transactions: Iterable[tuple[K, date, SupportsFloat]], calibration_end: date) -> RFM[K]:
    """Summarise (customer, date, amount) rows up to `calibration_end` (inclusive).

    Purchases on the same day are merged into one transaction (amounts summed); times are in
    weeks (days / 7) from each customer's first purchase; the first purchase is not a repeat.
    Customers whose first purchase is after `calibration_end` are left out. Customers keep the
    order of their first row.
    """
    end = _day(calibration_end)
    per_customer: dict[K, dict[date, float]] = {}
    for customer, when, amount in transactions:
        day = _day(when)
        if day > end:
            continue
        days = per_customer.setdefault(customer, {})
        days[day] = days.get(day, 0.0) + float(amount)
    customers = tuple(per_customer)
    n = len(customers)
    frequency = np.zeros(n)
    recency = np.zeros(n)
    age = np.zeros(n)
    monetary = np.zeros(n)
    for i, customer in enumerate(customers):
        days = per_customer[customer]
        ordered = sorted(days)
        first = ordered[0]
        frequency[i] = len(ordered) - 1
        recency[i] = (ordered[-1] - first).days / 7.0
        age[i] = (end - first).days / 7.0
        if len(ordered) > 1:
            monetary[i] = sum(days[d] for d in ordered[1:]) / (len(ordered) - 1)
    return RFM(customers, frequency, recency, age, monetary)


def _check_rfm(frequency: FloatArray, recency: FloatArray, T: FloatArray) -> None:
    if not (np.all(np.isfinite(frequency)) and np.all(np.isfinite(recency)) and np.all(np.isfinite(T))):
        raise ValueError("frequency, recency and T must be finite")
    if np.any(frequency < 0) or np.any(frequency != np.round(frequency)):
        raise ValueError("frequency must be a whole number of repeat purchases, >= 0")
    if np.any(recency < 0) or np.any(recency > T):
        raise ValueError("recency must be between 0 and T")
    if np.any((frequency == 0) & (recency != 0)):
        raise ValueError("recency must be 0 for customers without repeat purchases")


def _wsum(weights: FloatArray, values: FloatArray) -> float:
    """Weighted sum with numpy's own loops: np.dot would call the threaded BLAS, whose threads
    cost far more than they save on a small, busy machine (10x slower fits were measured)."""
    return float(np.sum(weights * values))


def _collapse(columns: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Identical rows -> (unique rows, their counts as weights): real histories in whole days
    repeat a lot (most customers never come back), and the likelihood only needs each once."""
    unique, counts = np.unique(columns, axis=0, return_counts=True)
    return np.ascontiguousarray(unique, dtype=np.float64), _f64(counts)


def _fit(objective: Callable[[FloatArray], tuple[float, FloatArray]], start: FloatArray) -> tuple[FloatArray, float]:
    """Minimise a smooth objective of log-parameters: L-BFGS-B with its gradient, and if that does
    not converge, Nelder-Mead from the same start followed by an L-BFGS-B polish."""
    bounds = [(-_LOG_BOUND, _LOG_BOUND)] * len(start)
    options = {"maxiter": 2000, "ftol": 1e-13, "gtol": 1e-9}
    first = minimize(objective, start, jac=True, method="L-BFGS-B", bounds=bounds, options=options)
    if first.success and np.isfinite(first.fun):
        return _f64(first.x), float(first.fun)

    def value(log_params: FloatArray) -> float:
        return objective(log_params)[0]

    # A likelihood whose optimum lies on a ridge (e.g. a and b growing together without bound)
    # stalls the line search; a bounded Nelder-Mead run then a polish finds the ridge's top.
    # The evaluation cap keeps a fit on demand within seconds; the better of the runs is kept.
    rough = minimize(
        value,
        first.x if np.isfinite(first.fun) else start,
        method="Nelder-Mead",
        bounds=bounds,
        options={"maxfev": 4000, "xatol": 1e-10, "fatol": 1e-13},
    )
    polished = minimize(objective, rough.x, jac=True, method="L-BFGS-B", bounds=bounds, options=options)
    candidates = [r for r in (first, rough, polished) if np.isfinite(r.fun)]
    if not candidates:
        raise RuntimeError(f"model fit did not converge: {polished.message}")
    best = min(candidates, key=lambda r: float(r.fun))
    return _f64(best.x), float(best.fun)


# ---------------------------------------------------------------------------------------------
# BG/NBD


def _by_frequency(x: FloatArray) -> tuple[FloatArray, npt.NDArray[np.intp]]:
    """Distinct frequencies and each row's index into them: the special functions of the
    likelihoods depend on x alone, so they are evaluated once per distinct x, not per customer."""
    values, index = np.unique(x, return_inverse=True)
    return _f64(values), index


def _bgnbd_objective(
    log_params: FloatArray,
    xs: FloatArray,
    x_index: npt.NDArray[np.intp],
    x: FloatArray,
    tx: FloatArray,
    T: FloatArray,
    weights: FloatArray,
) -> tuple[float, FloatArray]:
    """Mean negative log-likelihood of the BG/NBD and its gradient in log-parameters.

    Fader, Hardie & Lee (2005), eq. 6: L = B(a, b+x)/B(a, b) G(r+x) alpha^r / G(r) (A1 + d A2),
    d = [x > 0], A1 = (alpha+T)^-(r+x), A2 = a/(b+x-1) (alpha+t_x)^-(r+x). As logs:

      ln L = [ln G(r+x) - ln G(r)] + [ln B(a, b+x) - ln B(a, b)] + r ln(alpha) - (r+x) ln(alpha+T)
             + ln(1 + exp(D)),   D = ln(a/(b+x-1)) + (r+x) ln((alpha+T)/(alpha+t_x))   (x > 0)

    where ln(1 + exp(D)) = ln(A1 + A2) - ln(A1) is np.logaddexp(0, D), and D is also the log-odds
    of having dropped out (see p_alive). xs/x_index: distinct frequencies and each row's index.
    """
    r, alpha, a, b = np.exp(np.clip(log_params, -_LOG_BOUND, _LOG_BOUND))
    # Terms that depend on x only, once per distinct x (all 0 at x = 0).
    ab = a + b
    by_x = (
        _f64(gammaln(r + xs))
        - float(gammaln(r))
        + _f64(gammaln(b + xs))
        - float(gammaln(b))
        - _f64(gammaln(ab + xs))
        + float(gammaln(ab))
    )
    psi_abx = _f64(digamma(ab + xs))
    psi_ab = float(digamma(ab))
    dr_by_x = _f64(digamma(r + xs)) - float(digamma(r))
    da_by_x = psi_ab - psi_abx
    db_by_x = psi_ab - float(digamma(b)) - psi_abx + _f64(digamma(b + xs))

    repeat = x > 0
    x1 = np.where(repeat, x, 1.0)  # stand-in for x where A2 is absent, keeps b + x - 1 > 0
    rx = r + x
    log_at = np.log(alpha + T)
    log_atx = np.log(alpha + tx)
    log_odds = np.log(a / (b + x1 - 1.0)) + (r + x1) * (log_at - log_atx)
    softplus = np.where(repeat, np.logaddexp(0.0, log_odds), 0.0)
    ll = by_x[x_index] + r * math.log(alpha) - rx * log_at + softplus
    total = float(weights.sum())
    value = -_wsum(weights, ll) / total

    w2 = np.where(repeat, _f64(expit(log_odds)), 0.0)  # share of A2 in A1 + A2
    w1 = 1.0 - w2
    d_r = dr_by_x[x_index] + math.log(alpha) - w1 * log_at - w2 * log_atx
    d_alpha = r / alpha - rx * (w1 / (alpha + T) + w2 / (alpha + tx))
    d_a = da_by_x[x_index] + w2 / a
    d_b = db_by_x[x_index] - w2 / (b + x1 - 1.0)
    grad = np.array([_wsum(weights, d) for d in (d_r, d_alpha, d_a, d_b)]) * np.array([r, alpha, a, b])
    return value, -grad / total


def fit_bgnbd(frequency: npt.ArrayLike, recency: npt.ArrayLike, T: npt.ArrayLike) -> BGNBDParams:
    """Maximum-likelihood BG/NBD parameters for per-customer (x, t_x, T), times in weeks."""
    x, tx, age = _f64(frequency).ravel(), _f64(recency).ravel(), _f64(T).ravel()
    if not (x.shape == tx.shape == age.shape) or x.size == 0:
        raise ValueError("frequency, recency and T must be non-empty and of the same length")
    _check_rfm(x, tx, age)
    if not np.any(x > 0):
        # Without any repeat purchase the likelihood grows as r -> 0: no finite maximum.
        raise ValueError("no customer with repeat purchases to fit the BG/NBD on")
    rows, weights = _collapse(np.column_stack([x, tx, age]))
    ux, utx, uT = (np.ascontiguousarray(rows[:, i]) for i in range(3))
    xs, x_index = _by_frequency(ux)

    def objective(log_params: FloatArray) -> tuple[float, FloatArray]:
        return _bgnbd_objective(log_params, xs, x_index, ux, utx, uT, weights)

    # Start: r = 1 with alpha matching the mean observed purchase rate, a = b = 1 (uniform dropout).
    rate = max(float(np.sum(x) / max(np.sum(age), 1e-12)), 1e-6)
    start = np.log(np.array([1.0, 1.0 / rate, 1.0, 1.0]))
    log_params, value = _fit(objective, start)
    r, alpha, a, b = (float(v) for v in np.exp(log_params))
    return BGNBDParams(r=r, alpha=alpha, a=a, b=b, log_likelihood=-value * x.size)


def _log_odds_dead(params: BGNBDParams, x: FloatArray, tx: FloatArray, T: FloatArray) -> FloatArray:
    """ln(P(dead) / P(alive)) = ln(a / (b+x-1)) + (r+x) ln((alpha+T) / (alpha+t_x)) for x > 0;
    -inf for x = 0 (a customer who never came back cannot have dropped out in the BG/NBD)."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    repeat = x > 0
    x1 = np.where(repeat, x, 1.0)
    log_odds = np.log(a / (b + x1 - 1.0)) + (r + x1) * (np.log(alpha + T) - np.log(alpha + tx))
    return np.where(repeat, log_odds, -np.inf)


def p_alive(params: BGNBDParams, frequency: npt.ArrayLike, recency: npt.ArrayLike, T: npt.ArrayLike) -> FloatArray:
    """P(alive at T | x, t_x, T) = 1 / (1 + [x > 0] a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x)),
    evaluated as expit(-log-odds) so that huge ratios give 0, not an overflow."""
    x, tx, age = np.broadcast_arrays(_f64(frequency), _f64(recency), _f64(T))
    return _f64(expit(-_log_odds_dead(params, x, tx, age)))


def expected_purchases(
    params: BGNBDParams, t: npt.ArrayLike, frequency: npt.ArrayLike, recency: npt.ArrayLike, T: npt.ArrayLike
) -> FloatArray:
    """E[number of purchases in (T, T+t] | x, t_x, T] (Fader, Hardie & Lee 2005, eq. 10):

        (a+b+x-1)/(a-1) * [1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; z)] * P(alive),
        z = t / (alpha+T+t).

    The power times 2F1 grows and shrinks without bound as x grows; by Euler's transformation
    2F1(A, B; C; z) = (1-z)^(C-A-B) 2F1(C-A, C-B; C; z) it equals
    (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z), whose series converges faster the larger x is.
    All arguments broadcast together (e.g. t of shape (k, 1) against customers of shape (n,)).
    """
    r, alpha, b = params.r, params.alpha, params.b
    a = params.a
    if abs(a - 1.0) < _A_NEAR_ONE:
        a = 1.0 + math.copysign(_A_NEAR_ONE, a - 1.0)
    tt, x, tx, age = np.broadcast_arrays(_f64(t), _f64(frequency), _f64(recency), _f64(T))
    if np.any(tt < 0):
        raise ValueError("t must be >= 0")
    log_1mz = np.log(alpha + age) - np.log(alpha + age + tt)  # ln(1 - z)
    z = tt / (alpha + age + tt)
    alive = _f64(expit(-_log_odds_dead(params, x, tx, age)))
    with np.errstate(all="ignore"):  # huge a and b overflow 2F1: the limit below takes over
        h = _f64(hyp2f1(a + b - 1.0 - r, a - 1.0, a + b + x - 1.0, z))  # > 0: a positive 2F1 / (1-z)^...
        # 1 - (1-z)^(a-1) h, as -expm1(ln(...)) to keep precision when t is small.
        bracket = -np.expm1((a - 1.0) * log_1mz + np.log(h))
        exact = (a + b + x - 1.0) / (a - 1.0) * bracket * alive
    usable = np.isfinite(exact) & (exact >= 0)
    if np.all(usable):
        return _f64(exact)
    return _f64(np.where(usable, exact, _expected_purchases_fixed_p(params, tt, x, age, alive)))


def _expected_purchases_fixed_p(
    params: BGNBDParams, t: FloatArray, x: FloatArray, T: FloatArray, alive: FloatArray
) -> FloatArray:
    """The limit of E[Y(t)] when a and b grow without bound (a fit on data showing no spread in
    the dropout probability): the dropout probability is then p = a/(a+b) for everyone, and
    E[Y(t) | alive, lambda] = (1 - exp(-lambda p t)) / p, averaged over lambda's Gamma(r+x, alpha+T)
    posterior: (1 - ((alpha+T)/(alpha+T+p t))^(r+x)) / p."""
    p = params.a / (params.a + params.b)
    ratio = np.log(params.alpha + T) - np.log(params.alpha + T + p * t)
    return _f64(-np.expm1((params.r + x) * ratio) / p * alive)


# ---------------------------------------------------------------------------------------------
# Gamma-Gamma


def _gamma_gamma_objective(
    log_params: FloatArray,
    xs: FloatArray,
    x_index: npt.NDArray[np.intp],
    x: FloatArray,
    m: FloatArray,
    weights: FloatArray,
) -> tuple[float, FloatArray]:
    """Mean negative log-likelihood of the Gamma-Gamma model and its gradient in log-parameters.

    ln f(m | x) = ln G(px+q) - ln G(px) - ln G(q) + q ln(v) + (px-1) ln(m) + px ln(x)
                  - (px+q) ln(v + m x)      (Fader & Hardie's note, eq. 3, as logs)
    """
    p, q, v = np.exp(np.clip(log_params, -_LOG_BOUND, _LOG_BOUND))
    pxs = p * xs
    by_x = _f64(gammaln(pxs + q)) - _f64(gammaln(pxs))
    psi_pxq_by_x = _f64(digamma(pxs + q))
    dp_by_x = xs * (psi_pxq_by_x - _f64(digamma(pxs)) + np.log(xs))
    px = p * x
    log_m = np.log(m)
    log_vmx = np.log(v + m * x)
    ll = by_x[x_index] - float(gammaln(q)) + q * math.log(v) + (px - 1.0) * log_m + px * np.log(x) - (px + q) * log_vmx
    total = float(weights.sum())
    value = -_wsum(weights, ll) / total
    d_p = dp_by_x[x_index] + x * (log_m - log_vmx)
    d_q = psi_pxq_by_x[x_index] - float(digamma(q)) + math.log(v) - log_vmx
    d_v = q / v - (px + q) / (v + m * x)
    grad = np.array([_wsum(weights, d) for d in (d_p, d_q, d_v)]) * np.array([p, q, v])
    return value, -grad / total


def fit_gamma_gamma(frequency: npt.ArrayLike, monetary: npt.ArrayLike) -> GammaGammaParams:
    """Maximum-likelihood Gamma-Gamma parameters from the customers with frequency > 0 (the
    others carry no information on spend); `monetary` is the mean value of the repeat purchases."""
    x, m = _f64(frequency).ravel(), _f64(monetary).ravel()
    if x.shape != m.shape:
        raise ValueError("frequency and monetary must have the same length")
    keep = x > 0
    x, m = x[keep], m[keep]
    if x.size == 0:
        raise ValueError("no customer with repeat purchases to fit the Gamma-Gamma model on")
    if not (np.all(np.isfinite(m)) and np.all(m > 0)):
        raise ValueError("monetary must be positive and finite for customers with repeat purchases")
    rows, weights = _collapse(np.column_stack([x, m]))
    ux, um = np.ascontiguousarray(rows[:, 0]), np.ascontiguousarray(rows[:, 1])
    xs, x_index = _by_frequency(ux)

    def objective(log_params: FloatArray) -> tuple[float, FloatArray]:
        return _gamma_gamma_objective(log_params, xs, x_index, ux, um, weights)

    # Start: p = q = 2 and v so that the population mean p v / (q - 1) is the observed mean.
    start = np.log(np.array([2.0, 2.0, float(np.mean(m)) / 2.0]))
    log_params, value = _fit(objective, start)
    p, q, v = (float(val) for val in np.exp(log_params))
    return GammaGammaParams(p=p, q=q, v=v, log_likelihood=-value * x.size)


def expected_spend(params: GammaGammaParams, frequency: npt.ArrayLike, monetary: npt.ArrayLike) -> FloatArray:
    """E[value of a transaction | x, mean repeat value m] = p (v + m x) / (p x + q - 1)
    (for x = 0: the population mean p v / (q - 1)); +inf where p x + q <= 1 (no finite mean)."""
    x, m = np.broadcast_arrays(_f64(frequency), _f64(monetary))
    p, q, v = params.p, params.q, params.v
    denominator = p * x + q - 1.0
    finite = denominator > 0
    safe = np.where(finite, denominator, 1.0)
    return _f64(np.where(finite, p * (v + m * x) / safe, np.inf))


# ---------------------------------------------------------------------------------------------
# Discounted CLV


def discounted_clv(
    bg: BGNBDParams,
    gg: GammaGammaParams,
    frequency: npt.ArrayLike,
    recency: npt.ArrayLike,
    T: npt.ArrayLike,
    monetary: npt.ArrayLike,
    horizon_weeks: float,
    weekly_discount_rate: float,
    margin: float = 1.0,
    step_weeks: float = 1.0,
) -> FloatArray:
    """Expected discounted value of each customer's purchases over the next `horizon_weeks`.

    The horizon is cut into steps of `step_weeks` (the last one shorter if needed). The purchases
    expected in step k, E[Y(t_k)] - E[Y(t_{k-1})] from `expected_purchases`, are valued at
    `expected_spend` times `margin` and discounted to now from the end of the step:
    (1 + weekly_discount_rate) ** -t_k. With a zero rate the sum telescopes to the undiscounted
    value E[Y(horizon)] * spend * margin; with a positive rate it is lower.
    """
    if horizon_weeks < 0 or step_weeks <= 0:
        raise ValueError("horizon_weeks must be >= 0 and step_weeks > 0")
    if weekly_discount_rate <= -1:
        raise ValueError("weekly_discount_rate must be > -1")
    x, tx, age, m = np.broadcast_arrays(_f64(frequency), _f64(recency), _f64(T), _f64(monetary))
    spend = expected_spend(gg, x, m) * margin
    steps = math.ceil(horizon_weeks / step_weeks - 1e-9) if horizon_weeks > 0 else 0
    total = np.zeros(x.shape)
    previous = np.zeros(x.shape)
    for k in range(1, steps + 1):
        t_k = min(k * step_weeks, horizon_weeks)
        cumulative = expected_purchases(bg, t_k, x, tx, age)
        total += (cumulative - previous) * (1.0 + weekly_discount_rate) ** -t_k
        previous = cumulative
    # 0 (not nan) where nothing is expected, even if the spend has no finite mean.
    return _f64(np.multiply(total, spend, out=np.zeros(x.shape), where=total > 0))
