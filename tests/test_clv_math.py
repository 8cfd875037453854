"""The predictive-CLV maths of api/clv.py, with no database: the published CDNOW fits
(shared/METRICS.md, "Predictive CLV"), properties that can be checked by hand, numerical
robustness for very frequent buyers, and the discounted CLV.

The CDNOW sample is the copy in tests/fixtures/cdnow/ (see its README.md)."""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pytest
from scipy.special import hyp2f1

from api.clv import (
    RFM,
    BGNBDParams,
    FloatArray,
    GammaGammaParams,
    discounted_clv,
    expected_purchases,
    expected_spend,
    fit_bgnbd,
    fit_gamma_gamma,
    p_alive,
    rfm_from_transactions,
)

CDNOW = Path(__file__).parent / "fixtures" / "cdnow" / "CDNOW_sample.txt"
CALIBRATION_END = date(1997, 9, 30)

# Fader, Hardie & Lee (2005) and Fader & Hardie's Gamma-Gamma note, as quoted in METRICS.md.
PUBLISHED_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
PUBLISHED_BGNBD_LL = -9582.4
PUBLISHED_GG = {"p": 6.25, "q": 3.74, "v": 15.44}


@contextmanager
def strict_numerics() -> Iterator[None]:
    """Any floating-point overflow, invalid operation or division by zero (underflow to 0 is
    harmless), or any warning, fails the test."""
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
        warnings.simplefilter("error")
        yield


def load_cdnow() -> list[tuple[str, date, float]]:
    """Rows `master_id sample_id YYYYMMDD number_of_cds dollar_value` -> (customer, day, dollars)."""
    rows = []
    with CDNOW.open() as lines:
        for line in lines:
            _master, customer, day, _cds, dollars = line.split()
            rows.append((customer, datetime.strptime(day, "%Y%m%d").date(), float(dollars)))
    return rows


@pytest.fixture(scope="module")
def cdnow() -> RFM[str]:
    return rfm_from_transactions(load_cdnow(), CALIBRATION_END)


@pytest.fixture(scope="module")
def bg(cdnow: RFM[str]) -> BGNBDParams:
    return fit_bgnbd(cdnow.frequency, cdnow.recency, cdnow.T)


@pytest.fixture(scope="module")
def gg(cdnow: RFM[str]) -> GammaGammaParams:
    return fit_gamma_gamma(cdnow.frequency, cdnow.monetary)


def relative_error(value: float, published: float) -> float:
    return abs(value - published) / abs(published)


# --- CDNOW: the published fits -------------------------------------------------------------------


def test_cdnow_rfm_summary(cdnow: RFM[str]) -> None:
    assert len(cdnow.customers) == 2357
    assert int(np.sum(cdnow.frequency > 0)) == 946
    # The first customer of Fader & Hardie's calibration data: x = 2, t_x = 30.43, T = 38.86.
    first = cdnow.customers.index("0001")
    assert cdnow.frequency[first] == 2
    assert cdnow.recency[first] == pytest.approx(30.43, abs=0.005)
    assert cdnow.T[first] == pytest.approx(38.86, abs=0.005)
    # Monetary is the mean of the repeat purchases only: 29.73 and 14.96, not the first 29.33.
    assert cdnow.monetary[first] == pytest.approx((29.73 + 14.96) / 2)
    # Everyone joined in 1997's first quarter, so T is between ~26 and ~39 weeks.
    assert cdnow.T.min() > 26
    assert cdnow.T.max() < 39


def test_cdnow_bgnbd_reproduces_published_parameters(bg: BGNBDParams) -> None:
    fitted = {"r": bg.r, "alpha": bg.alpha, "a": bg.a, "b": bg.b}
    for name, published in PUBLISHED_BGNBD.items():
        assert relative_error(fitted[name], published) < 0.01, (name, fitted[name], published)
    # Same convention as the paper: the sum over customers of ln L_i, constants included.
    assert bg.log_likelihood == pytest.approx(PUBLISHED_BGNBD_LL, abs=0.1)


def test_cdnow_gamma_gamma_reproduces_published_parameters(cdnow: RFM[str], gg: GammaGammaParams) -> None:
    fitted = {"p": gg.p, "q": gg.q, "v": gg.v}
    for name, published in PUBLISHED_GG.items():
        assert relative_error(fitted[name], published) < 0.01, (name, fitted[name], published)
    # Customers without repeat purchases are ignored, whatever their monetary value.
    with_noise = np.where(cdnow.frequency > 0, cdnow.monetary, 1e6)
    assert fit_gamma_gamma(cdnow.frequency, with_noise) == gg


def test_cdnow_conditional_expectation_matches_the_paper(bg: BGNBDParams) -> None:
    # Fader, Hardie & Lee (2005): for x = 2, t_x = 30.43, T = 38.86, E[Y(39) | ...] = 1.226.
    assert float(expected_purchases(bg, 39, 2, 30.43, 38.86)) == pytest.approx(1.226, abs=0.002)


def test_fit_weights_identical_customers_as_copies(cdnow: RFM[str], bg: BGNBDParams) -> None:
    """The fit collapses identical customers into weighted rows: twice the data, same parameters,
    twice the log-likelihood."""
    doubled = fit_bgnbd(*(np.concatenate([v, v]) for v in (cdnow.frequency, cdnow.recency, cdnow.T)))
    for name in ("r", "alpha", "a", "b"):
        assert getattr(doubled, name) == pytest.approx(getattr(bg, name), rel=1e-5)
    assert doubled.log_likelihood == pytest.approx(2 * bg.log_likelihood, rel=1e-9)


# --- Recovering known parameters from simulated customers ----------------------------------------


def simulate(n: int, truth: BGNBDParams, seed: int) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Customers of a BG/NBD world observed for 1 to 52 weeks: Poisson purchases at rate
    lambda ~ Gamma(r, alpha) until they drop out, with probability p ~ Beta(a, b) after each."""
    rng = np.random.default_rng(seed)
    rate = rng.gamma(truth.r, 1.0 / truth.alpha, n)
    dropout = rng.beta(truth.a, truth.b, n)
    age = rng.uniform(1.0, 52.0, n)
    x, tx, now = np.zeros(n), np.zeros(n), np.zeros(n)
    active = rate > 0
    while active.any():
        i = np.flatnonzero(active)
        now[i] += rng.exponential(1.0 / rate[i])
        beyond = now[i] > age[i]
        active[i[beyond]] = False
        bought = i[~beyond]
        x[bought] += 1
        tx[bought] = now[bought]
        active[bought[rng.random(bought.size) < dropout[bought]]] = False
    return x, tx, age


def test_fit_recovers_simulated_parameters() -> None:
    truth = BGNBDParams(r=0.5, alpha=5.0, a=0.8, b=2.5, log_likelihood=0.0)
    x, tx, age = simulate(30_000, truth, seed=20240601)
    fitted = fit_bgnbd(x, tx, age)
    for name in ("r", "alpha", "a", "b"):
        assert getattr(fitted, name) == pytest.approx(getattr(truth, name), rel=0.12), name


# --- Properties that hold by construction -------------------------------------------------------


def test_p_alive_is_one_without_repeat_purchases(bg: BGNBDParams) -> None:
    # In the BG/NBD a customer can only drop out right after a purchase: x = 0 means alive.
    assert np.all(p_alive(bg, 0, 0, [0.0, 1.0, 38.86, 1000.0]) == 1.0)


def test_p_alive_falls_with_silence_and_is_one_right_after_a_purchase(bg: BGNBDParams) -> None:
    alive = p_alive(bg, 3, 10.0, np.array([10.0, 12.0, 20.0, 39.0, 100.0]))
    assert np.all((alive > 0) & (alive <= 1))
    assert np.all(np.diff(alive) < 0)
    # At t_x = T: 1 / (1 + a / (b + x - 1)).
    assert alive[0] == pytest.approx(1.0 / (1.0 + bg.a / (bg.b + 2.0)))


def test_expected_purchases_start_at_zero_and_grow_with_t(bg: BGNBDParams) -> None:
    t = np.array([0.0, 1.0, 4.0, 13.0, 39.0, 52.0, 520.0])
    for x, tx, T in [(0, 0.0, 20.0), (2, 30.43, 38.86), (10, 5.0, 38.0), (25, 38.0, 38.5)]:
        expected = expected_purchases(bg, t, x, tx, T)
        assert expected[0] == 0.0
        assert np.all(np.diff(expected) > 0), (x, expected)


def naive_expected_purchases(params: BGNBDParams, t: float, x: float, tx: float, T: float) -> float:
    """Eq. 10 of Fader, Hardie & Lee (2005) written out as printed, for moderate x only."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    z = t / (alpha + T + t)
    bracket = 1.0 - ((alpha + T) / (alpha + T + t)) ** (r + x) * float(hyp2f1(r + x, b + x, a + b + x - 1.0, z))
    denominator = 1.0 + (x > 0) * a / (b + x - 1.0) * ((alpha + T) / (alpha + tx)) ** (r + x)
    return float((a + b + x - 1.0) / (a - 1.0) * bracket / denominator)


@pytest.mark.parametrize(
    ("t", "x", "tx", "T"),
    [
        (39.0, 0, 0.0, 38.86),
        (10.0, 1, 5.0, 30.0),
        (52.0, 5, 20.0, 38.0),
        (100.0, 20, 37.0, 38.0),
        (52.0, 200, 38.0, 39.0),
    ],
)
def test_expected_purchases_equal_the_formula_as_printed(
    bg: BGNBDParams, t: float, x: float, tx: float, T: float
) -> None:
    # api.clv uses Euler's transformation of 2F1; where the printed form is computable, they agree.
    assert float(expected_purchases(bg, t, x, tx, T)) == pytest.approx(naive_expected_purchases(bg, t, x, tx, T))


def test_expected_purchases_broadcast_a_time_grid_against_customers(bg: BGNBDParams, cdnow: RFM[str]) -> None:
    grid = np.array([[13.0], [26.0], [39.0]])
    table = expected_purchases(bg, grid, cdnow.frequency, cdnow.recency, cdnow.T)
    assert table.shape == (3, len(cdnow.customers))
    assert np.array_equal(table[2], expected_purchases(bg, 39.0, cdnow.frequency, cdnow.recency, cdnow.T))


def test_very_frequent_buyers_give_finite_values_without_warnings(bg: BGNBDParams, gg: GammaGammaParams) -> None:
    x = np.array([200.0, 200.0, 2000.0, 2000.0, 100_000.0])
    tx = np.array([38.0, 1.0, 38.9, 5.0, 38.99])
    T = np.array([39.0, 100.0, 39.0, 39.0, 39.0])
    with strict_numerics():
        alive = p_alive(bg, x, tx, T)
        expected = expected_purchases(bg, 52.0, x, tx, T)
        spend = expected_spend(gg, x, np.full(x.shape, 20.0))
        value = discounted_clv(bg, gg, x, tx, T, np.full(x.shape, 20.0), 52.0, 0.002)
        refit = fit_bgnbd(np.append(x, [0.0, 1.0]), np.append(tx, [0.0, 3.0]), np.append(T, [30.0, 30.0]))
    for values in (alive, expected, spend, value):
        assert np.all(np.isfinite(values))
        assert np.all(values >= 0)
    # Silent for 99 weeks after 200 purchases in the first week: surely gone (the naive
    # ((alpha+T)/(alpha+t_x))^(r+x) is ~1e258 here, and overflows outright at x = 2000).
    assert alive[1] < 1e-200
    assert expected[1] < 1e-200
    # Still buying at the end: alive, and buying at a high rate.
    assert alive[0] > 0.5
    assert expected[0] > 50
    assert np.all(np.isfinite([refit.r, refit.alpha, refit.a, refit.b, refit.log_likelihood]))


def test_expected_spend_shrinks_the_customer_mean_towards_the_population_mean(gg: GammaGammaParams) -> None:
    population = gg.p * gg.v / (gg.q - 1.0)
    assert float(expected_spend(gg, 0, 0.0)) == pytest.approx(population)
    m = 80.0
    spend = expected_spend(gg, np.array([1.0, 5.0, 50.0, 5000.0]), m)
    # A weighted average of the population mean and the customer's own mean ...
    weight = (gg.q - 1.0) / (gg.p * np.array([1.0, 5.0, 50.0, 5000.0]) + gg.q - 1.0)
    assert np.allclose(spend, weight * population + (1.0 - weight) * m)
    # ... that moves towards the customer's own mean as their purchases pile up.
    assert np.all(np.diff(spend) > 0)
    assert spend[-1] == pytest.approx(m, rel=1e-3)


def test_rfm_from_transactions_merges_same_day_purchases_and_stops_at_the_end() -> None:
    rows = [
        ("ann", date(2024, 1, 1), 10.0),
        ("ann", datetime(2024, 1, 1, 18, 30), 5.0),  # same day: one transaction of 15
        ("bob", date(2024, 1, 8), 7.0),
        ("ann", date(2024, 1, 15), 20.0),
        ("ann", date(2024, 1, 29), 30.0),
        ("ann", date(2024, 3, 1), 99.0),  # after the calibration end
        ("cy", date(2024, 2, 1), 1.0),  # first purchase after the end: not a customer yet
    ]
    rfm = rfm_from_transactions(rows, date(2024, 1, 29))
    assert rfm.customers == ("ann", "bob")
    assert rfm.frequency.tolist() == [2.0, 0.0]
    assert rfm.recency.tolist() == [4.0, 0.0]
    assert rfm.T.tolist() == [4.0, 3.0]
    assert rfm.monetary.tolist() == [25.0, 0.0]


def test_invalid_summaries_are_rejected() -> None:
    with pytest.raises(ValueError, match="recency"):
        fit_bgnbd([1, 0], [5.0, 0.0], [4.0, 3.0])  # last purchase after the end
    with pytest.raises(ValueError, match="whole number"):
        fit_bgnbd([1.5, 0], [1.0, 0.0], [4.0, 3.0])
    with pytest.raises(ValueError, match="repeat purchases"):
        fit_bgnbd([0, 0], [0.0, 0.0], [4.0, 3.0])
    with pytest.raises(ValueError, match="monetary"):
        fit_gamma_gamma([1, 2], [0.0, 10.0])


# --- Discounted CLV ------------------------------------------------------------------------------


def test_discounted_clv_is_below_the_undiscounted_value_and_grows_with_the_horizon(
    cdnow: RFM[str], bg: BGNBDParams, gg: GammaGammaParams
) -> None:
    args = (bg, gg, cdnow.frequency, cdnow.recency, cdnow.T, cdnow.monetary)
    spend = expected_spend(gg, cdnow.frequency, cdnow.monetary)
    undiscounted = expected_purchases(bg, 52.0, cdnow.frequency, cdnow.recency, cdnow.T) * spend
    # At a zero rate the per-week increments telescope to the undiscounted value.
    assert np.allclose(discounted_clv(*args, 52.0, 0.0), undiscounted)
    discounted = discounted_clv(*args, 52.0, 0.002)
    assert np.all(discounted < undiscounted)
    assert np.all(discounted > 0)
    # Longer horizons add value; the margin scales it; a ragged last step is allowed.
    horizons = [discounted_clv(*args, h, 0.002, step_weeks=4.0) for h in (13.0, 26.0, 52.0, 104.0, 106.5)]
    assert all(np.all(later > earlier) for earlier, later in itertools.pairwise(horizons))
    assert np.allclose(discounted_clv(*args, 52.0, 0.002, margin=0.3), 0.3 * discounted)
    assert np.all(discounted_clv(*args, 0.0, 0.002) == 0.0)
    # Coarser steps discount each step's purchases from its end: a little less value.
    monthly = discounted_clv(*args, 52.0, 0.002, step_weeks=4.0)
    assert np.all(monthly <= discounted)
    assert np.allclose(monthly, discounted, rtol=0.01)


def test_expected_purchases_stay_finite_when_the_fit_runs_a_and_b_to_huge_values() -> None:
    # Data with no spread in dropout drives a and b without bound; 2F1 overflows there, and the
    # fixed-dropout limit must take over smoothly (compare with a = 1000, where 2F1 still works).
    x, tx, T = np.array([0.0, 1, 5, 20]), np.array([0.0, 10, 30, 50]), np.full(4, 52.0)
    moderate = expected_purchases(BGNBDParams(0.7, 2.3, 1e3, 6e3, 0.0), 26, x, tx, T)
    huge = expected_purchases(BGNBDParams(0.7, 2.3, 1e7, 6e7, 0.0), 26, x, tx, T)
    assert np.all(np.isfinite(huge))
    assert np.all(huge >= 0)
    np.testing.assert_allclose(huge, moderate, rtol=0.01)
