"""The `acme-subscriptions` model as data: stages, transitions in the order they are tried,
parameters with defaults, and the one extra interaction kind its rules rely on."""

from __future__ import annotations

from acme_lifecycle import criteria as c
from plugins.types import InteractionKind, LifecycleModel, Param, Stage, StageCategory, Transition

MODEL_KEY = "acme-subscriptions"

STAGES = (
    Stage("trial", {"en": "Trial", "pt-BR": "Período de teste"}, StageCategory.PROSPECT, 1),
    Stage("active", {"en": "Active subscriber", "pt-BR": "Assinante ativo"}, StageCategory.CUSTOMER, 2),
    Stage("at_risk", {"en": "At risk", "pt-BR": "Em risco"}, StageCategory.CUSTOMER, 3),
    Stage("churned", {"en": "Churned", "pt-BR": "Cancelou (churn)"}, StageCategory.CHURNED, 4),
    Stage("expired", {"en": "Trial expired", "pt-BR": "Teste expirado"}, StageCategory.LOST, 5),
)

TRANSITIONS = (
    Transition(
        "subscribed",
        "trial",
        "active",
        "A subscription started, or a purchase, during the trial.",
        c.subscribed,
    ),
    Transition(
        "trial_expired",
        "trial",
        "expired",
        "trial_days (14) days after the trial began, without a subscription or a purchase.",
        c.trial_over,
    ),
    Transition(
        "support_trouble",
        "active",
        "at_risk",
        "A new support ticket, with tickets coming at a pace of at_risk_tickets (3) per "
        "at_risk_window_days (30) days; or the helpdesk escalated the customer.",
        c.support_trouble,
    ),
    Transition(
        "recovered",
        "at_risk",
        "active",
        "A support ticket was resolved after the customer became at risk.",
        c.ticket_resolved,
    ),
    Transition(
        "cancelled",
        None,  # from any stage
        "churned",
        "A subscription was cancelled and no other subscription is active.",
        c.cancelled_with_none_active,
    ),
    Transition(
        "won_back",
        "churned",
        "active",
        "A new subscription, or a purchase, after churning.",
        c.subscribed_again,
    ),
    Transition(
        "won_back",
        "expired",
        "active",
        "A subscription, or a purchase, after the trial expired.",
        c.subscribed_again,
    ),
    # No criterion: only an admin's manual move can take it (e.g. a goodwill extension).
    Transition("trial_extended", "expired", "trial", "Trial extended by hand (manual moves only)."),
)

PARAMS = (
    Param("trial_days", "int", 14, "Length of the free trial, in days.", minimum=1, maximum=365),
    Param("at_risk_tickets", "int", 3, "Support tickets per window that put a subscriber at risk.", minimum=1),
    Param("at_risk_window_days", "int", 30, "The window, in days, the tickets are counted over.", minimum=1),
)

MODEL = LifecycleModel(
    key=MODEL_KEY,
    name="Acme subscriptions",
    description=(
        "A subscription business: a free trial, active subscribers, subscribers at risk because "
        "they keep needing support, and churned ones; trials that run out are expired."
    ),
    version="1.0.0",
    stages=STAGES,
    transitions=TRANSITIONS,
    initial_stage="trial",
    params=PARAMS,
)

KINDS = (
    InteractionKind(
        c.ESCALATED,
        "Support escalated (Acme)",
        "The helpdesk flagged the customer's support load as too high, by its own count of recent tickets.",
    ),
)
