"""The built-in interaction kinds, registered through the same hook a partner uses."""

from __future__ import annotations

from plugins.hookspecs import hookimpl
from plugins.types import InteractionKind as K

BUILTIN_KINDS: tuple[K, ...] = (
    K("first_contact", "First contact", "The first touch with a prospect, by any channel."),
    K("site_visit", "Site visit", "A visit to the business's website."),
    K("form_submitted", "Form submitted", "A web form filled in (sign-up, contact, quote)."),
    K("content_downloaded", "Content downloaded", "An e-book, white paper or other content."),
    K("email_opened", "Email opened", "A marketing or sales email opened."),
    K("email_clicked", "Email clicked", "A link in an email clicked."),
    K("chat", "Chat", "A conversation over chat or messaging (WhatsApp, web chat)."),
    K("sms", "SMS", "A text message exchanged."),
    K("call", "Call", "A phone or video call."),
    K("demo_requested", "Demo requested", "The customer asked for a product demonstration."),
    K("meeting", "Meeting", "A meeting held with the customer."),
    K("proposal_sent", "Proposal sent", "A commercial proposal sent to the customer."),
    K("purchase", "Purchase", "A purchase; `amount` is its value.", amount_required=True),
    K(
        "renewal",
        "Renewal",
        "A contract or subscription renewed; `amount` is its value.",
        amount_required=True,
    ),
    K("subscription_started", "Subscription started", "A recurring subscription began."),
    K("subscription_cancelled", "Subscription cancelled", "A recurring subscription ended."),
    K("refund", "Refund", "Money returned to the customer; `amount` is positive.", amount_required=True),
    K("support_ticket_opened", "Support ticket opened", "The customer asked support for help."),
    K("support_ticket_resolved", "Support ticket resolved", "A support ticket was closed."),
    K(
        "nps_response",
        "NPS response",
        "A Net Promoter Score answer, `score` 0 to 10.",
        score_min=0,
        score_max=10,
        score_required=True,
    ),
    K(
        "csat_response",
        "CSAT response",
        "A customer-satisfaction answer, `score` 1 to 5.",
        score_min=1,
        score_max=5,
        score_required=True,
    ),
    K("review", "Review", "A public review; `score` 1 to 5 when it has a rating.", score_min=1, score_max=5),
    K("referral", "Referral", "The customer referred someone to the business."),
)


@hookimpl
def register_interaction_kinds() -> list[K]:
    return list(BUILTIN_KINDS)
