"""The rules of the `acme-subscriptions` model: pure functions of the facts and the parameters.

A criterion gets a read-only `CustomerFacts` snapshot (as of the moment being evaluated) and the
workspace's parameters (the defaults merged with what the workspace set). It answers True/False,
or, for a rule about time, `fire(at)` (it became true at `at`) or `wait_until(moment)` (nothing
changes before `moment` unless an interaction arrives). No I/O, no clock: `facts.as_of` is "now".
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from plugins.types import CriterionResult, CustomerFacts, fire, wait_until

Params = Mapping[str, Any]

TICKET_OPENED = "support_ticket_opened"
TICKET_RESOLVED = "support_ticket_resolved"
SUBSCRIBING = ("subscription_started", "purchase")
CANCELLED = "subscription_cancelled"
# Registered by this plugin (see model.KINDS): the helpdesk's own verdict that the customer's
# support load is too high, for the cases the facts cannot see (README, "Support trouble").
ESCALATED = "acme_support_escalated"


def subscribed(f: CustomerFacts, p: Params) -> bool:
    """A subscription started, or a purchase, at any time."""
    return f.count(*SUBSCRIBING) > 0


def subscribed_again(f: CustomerFacts, p: Params) -> bool:
    """A subscription started, or a purchase, at or after entering the current stage."""
    return f.happened_since(f.stage_entered_at, *SUBSCRIBING)


def trial_over(f: CustomerFacts, p: Params) -> CriterionResult:
    """`trial_days` days after the trial began. Time-based: it fires dated at the day the trial
    ended (not when a periodic check noticed), and until then asks to be looked at on that day."""
    due = f.stage_entered_at + timedelta(days=int(p["trial_days"]))
    return fire(due) if f.as_of >= due else wait_until(due)


def cancelled_with_none_active(f: CustomerFacts, p: Params) -> bool:
    """A cancellation at or after entering the current stage, and no subscription still active
    (a customer with two subscriptions who cancels one stays)."""
    return f.happened_since(f.stage_entered_at, CANCELLED) and not f.subscription_active


def ticket_pace(f: CustomerFacts, p: Params) -> bool:
    """`at_risk_tickets` support tickets per `at_risk_window_days` days, as far as the facts tell.

    The facts keep, per kind, a count and the first and last time, not every ticket's time, so a
    sliding "3 in any 30 days" window cannot be computed exactly. This rule holds when:

    - the latest ticket was opened after the customer entered the current stage (tickets from the
      trial, or the ones that caused an earlier at-risk spell, never raise a new alert alone), and
      no longer than the window ago;
    - the tickets so far came at least at that pace: n tickets between the first and the latest
      one, n x window >= at_risk_tickets x max(window, latest - first).

    When every ticket falls within one window (the usual first burst) that is exactly "at least
    3 tickets within 30 days". Over a longer history it is the average pace since the first ticket.
    """
    last = f.last_at.get(TICKET_OPENED)
    if last is None or last <= f.stage_entered_at:
        return False
    window = timedelta(days=int(p["at_risk_window_days"]))
    if f.as_of - last > window:
        return False
    span = max(last - f.first_at[TICKET_OPENED], window)
    return f.count(TICKET_OPENED) * window >= int(p["at_risk_tickets"]) * span


def escalated(f: CustomerFacts, p: Params) -> bool:
    """The helpdesk escalated the customer after they entered the current stage."""
    last = f.last(ESCALATED)
    return last is not None and last > f.stage_entered_at


def support_trouble(f: CustomerFacts, p: Params) -> bool:
    return ticket_pace(f, p) or escalated(f, p)


def ticket_resolved(f: CustomerFacts, p: Params) -> bool:
    """A support ticket was resolved after the customer entered the current stage."""
    last = f.last(TICKET_RESOLVED)
    return last is not None and last > f.stage_entered_at
