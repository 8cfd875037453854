"""`jornada demo`: a workspace with two years of realistic history, so that every stage of every
built-in model has customers and every metric shows something meaningful.

Customers follow stories (a visitor, a lead who downloads content, a buyer who comes back, a
subscriber who cancels...), recorded through the same services as live data, at their
historical times, so the lifecycle engine places them exactly as it would have live. Most buyers
come through the whole sales funnel in order; their purchases follow the process the BG/NBD
model assumes (each buyer's own rate, a chance to drop out after each purchase, their own spend
level), so the dashboard shows real churn and the value model can tell who is slipping away.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from api import lifecycle_admin, value
from api.customers import create_customer
from api.demo_people import (
    CHANNEL_STORIES,
    CHANNELS,
    CITIES,
    COMPANY_NAMES,
    COMPANY_SIZES,
    COMPANY_TYPES,
    GOES_WITH,
    INDUSTRY_STORIES,
    JOB_TITLES,
    PRODUCTS,
    SPEND_BY_INDUSTRY,
    TAGS,
    person_name,
    postal_code,
    slug,
    weighted,
)
from api.interactions import NewInteraction, record_many
from api.lifecycle import Lifecycle
from api.records import WorkspaceRecord
from api.workspaces import create_workspace, record_spend

# (days ago, kind, extra fields)
Event = tuple[float, str, dict[str, Any]]
Story = Callable[[random.Random], list[Event]]


def _product(rng: random.Random, exclude: str | None = None, after: str | None = None) -> tuple[str, Decimal]:
    """A product; after `after`, most often one that goes with it (GOES_WITH)."""
    if after is not None and rng.random() < 0.65:
        prices = dict(PRODUCTS)
        name = rng.choice(GOES_WITH[after])
        return name, prices[name]
    choices = [p for p in PRODUCTS if p[0] != exclude]
    return rng.choice(choices)


def _buy(days: float, rng: random.Random, product: tuple[str, Decimal] | None = None, scale: float = 1.0) -> Event:
    name, price = product or _product(rng)
    amount = (price * Decimal(str(round(scale, 3)))).quantize(Decimal("0.01")) if scale != 1.0 else price
    return (days, "purchase", {"amount": amount, "properties": {"product": name}})


def _purchases(rng: random.Random, first: float, dropout: tuple[float, float] = (1.3, 3.0)) -> list[Event]:
    """A buyer's purchases from `first` days ago, as the BG/NBD model has them: each buyer buys at
    their own rate (a Poisson process, about every 45 days on average) and after each purchase may
    drop out for good (probability from Beta(*dropout)); what they spend per purchase scales with
    their own level (Gamma). So some keep buying up to now and others go quiet at some point: the
    churn rule sees them leave, and the value model has dropouts to learn from."""
    rate = rng.gammavariate(2.0, 1 / 90)  # purchases per day
    leave = rng.betavariate(*dropout)
    level = rng.gammavariate(6.0, 1 / 6.0)
    product = _product(rng)
    events = [_buy(first, rng, product, scale=level)]
    days = first
    while rng.random() >= leave:
        days -= rng.expovariate(rate)
        if days <= 0.5:
            break
        product = _product(rng, after=product[0])
        events.append(_buy(days, rng, product, scale=level))
    return events


def _to_purchase(rng: random.Random, first: float) -> list[Event]:
    """How a buyer came to buy `first` days ago: most through the whole sales funnel in order
    (lead, MQL, SQL, opportunity), the others straight from a visit and a chat."""
    if rng.random() < 0.7:
        start = first + rng.uniform(12, 20)
        return [*_sql_events(rng, start), (start - 10, "proposal_sent", {"properties": {"valor": "4990.00"}})]
    return [(first + 8, "site_visit", {}), (first + 4, "chat", {})]


def _nurture(rng: random.Random, start: float) -> list[Event]:
    """Marketing touches worth 44 lead points (an MQL from 40) over a few weeks, ending `start` days ago."""
    return [
        (start + 30, "site_visit", {}),
        (start + 25, "content_downloaded", {"properties": {"title": "Guia de gestão financeira"}}),
        (start + 20, "form_submitted", {"properties": {"form": "newsletter"}}),
        (start + 15, "email_clicked", {}),
        (start + 10, "content_downloaded", {"properties": {"title": "Planilha de fluxo de caixa"}}),
        (start + 8, "content_downloaded", {"properties": {"title": "E-book: precificação"}}),
        (start + 5, "meeting", {"properties": {"topic": "conhecer a solução"}}),
        (start, "email_opened", {}),
    ]


def visitor(rng: random.Random) -> list[Event]:
    return [(rng.uniform(5, 40), "site_visit", {})]


def quiet_prospect(rng: random.Random) -> list[Event]:
    return []


def lead(rng: random.Random) -> list[Event]:
    days = rng.uniform(5, 40)
    return [(days + 3, "site_visit", {}), (days, "form_submitted", {"properties": {"form": "contato"}})]


def mql(rng: random.Random) -> list[Event]:
    return _nurture(rng, rng.uniform(3, 20))


def _sql_events(rng: random.Random, start: float) -> list[Event]:
    """Nurtured to MQL, then a demo asked for after that: a sales-qualified lead."""
    return [*_nurture(rng, start), (start - 5, "demo_requested", {})]


def sql(rng: random.Random) -> list[Event]:
    return _sql_events(rng, rng.uniform(10, 30))


def opportunity(rng: random.Random) -> list[Event]:
    start = rng.uniform(15, 40)
    return [*_sql_events(rng, start), (start - 10, "proposal_sent", {"properties": {"valor": "4990.00"}})]


def buyer(rng: random.Random) -> list[Event]:
    first = rng.uniform(20, 600)
    return [
        *_to_purchase(rng, first),
        *_purchases(rng, first),
        (first - 2, "csat_response", {"score": rng.choice([4, 5, 5, 3])}),
    ]


def repeat_buyer(rng: random.Random) -> list[Event]:
    """A buyer who is less likely to drop out, and answers an NPS survey now and then."""
    first = rng.uniform(30, 600)
    events = [*_to_purchase(rng, first), *_purchases(rng, first, dropout=(1.0, 6.0))]
    events.append((rng.uniform(1, first - 5), "nps_response", {"score": rng.choice([7, 8, 8, 6, 9])}))
    return events


def advocate(rng: random.Random) -> list[Event]:
    first = _product(rng)
    days = rng.uniform(60, 300)
    events = [*_to_purchase(rng, days), _buy(days, rng, first), _buy(days - 40, rng, first)]
    events += [
        _buy(rng.uniform(3, 30), rng, _product(rng, first[0])),
        (2.5, "nps_response", {"score": rng.choice([9, 10])}),
        (2, "referral", {}),
        (1.5, "review", {"score": 5, "properties": {"site": "Reclame Aqui"}}),
    ]
    return events


def churned(rng: random.Random) -> list[Event]:
    """A buyer quick to drop out, after a support ticket and a poor NPS answer."""
    first = rng.uniform(260, 600)
    return [
        *_to_purchase(rng, first),
        *_purchases(rng, first, dropout=(3.0, 2.0)),
        (first - 30, "support_ticket_opened", {}),
        (first - 32, "support_ticket_resolved", {}),
        (first - 33, "nps_response", {"score": rng.randint(2, 6)}),
    ]


def won_back(rng: random.Random) -> list[Event]:
    days = rng.uniform(420, 650)
    return [
        *_to_purchase(rng, days),
        _buy(days, rng),
        (rng.uniform(40, 60), "email_clicked", {"properties": {"campanha": "volta"}}),
        _buy(rng.uniform(5, 35), rng),
    ]


def subscriber(rng: random.Random) -> list[Event]:
    start = rng.uniform(120, 400)
    plan = ("Plano Pro", Decimal("149.90"))
    events: list[Event] = [
        (start + 3, "demo_requested", {}),
        (start, "subscription_started", {"properties": {"plan": plan[0]}}),
    ]
    month = start - 30
    while month > 0:
        events.append((month, "renewal", {"amount": plan[1], "properties": {"plan": plan[0]}}))
        month -= 30
    return events


def cancelled(rng: random.Random) -> list[Event]:
    start = rng.uniform(200, 500)
    events: list[Event] = [
        (start, "subscription_started", {}),
        (start - 30, "renewal", {"amount": Decimal("49.90")}),
        (start - 60, "renewal", {"amount": Decimal("49.90")}),
        (start - 70, "support_ticket_opened", {}),
        (start - 75, "subscription_cancelled", {"properties": {"motivo": "preço"}}),
        (start - 80, "csat_response", {"score": rng.randint(1, 3)}),
    ]
    return events


def lost(rng: random.Random) -> list[Event]:
    days = rng.uniform(120, 500)
    return [(days + 5, "site_visit", {}), (days, "demo_requested", {})]


def re_engaged(rng: random.Random) -> list[Event]:
    days = rng.uniform(200, 400)
    return [(days, "demo_requested", {}), (rng.uniform(5, 30), "form_submitted", {"properties": {"form": "webinar"}})]


def recent_first_purchase(rng: random.Random) -> list[Event]:
    """Bought once within the month: activation in the lifespan model."""
    days = rng.uniform(2, 20)
    return [*_to_purchase(rng, days), _buy(days, rng)]


def big_spender(rng: random.Random) -> list[Event]:
    """Repeat purchases of one product adding up to over 1000: growth in five-phase."""
    product = ("Treinamento", Decimal("1290.00"))
    first = rng.uniform(50, 200)
    return [*_to_purchase(rng, first), _buy(first, rng, product), _buy(rng.uniform(3, 40), rng, product)]


# (story, weight): every story appears at least once in the first len(STORIES) customers.
STORIES: tuple[tuple[Story, int], ...] = (
    (quiet_prospect, 3),
    (visitor, 8),
    (lead, 7),
    (mql, 5),
    (sql, 4),
    (opportunity, 3),
    (buyer, 9),
    (recent_first_purchase, 5),
    (repeat_buyer, 9),
    (big_spender, 3),
    (advocate, 7),
    (churned, 10),
    (won_back, 5),
    (subscriber, 6),
    (cancelled, 4),
    (lost, 8),
    (re_engaged, 3),
)


def _profile(rng: random.Random, n: int) -> tuple[dict[str, Any], str]:
    name, first, last = person_name(rng)
    channel = weighted(rng, CHANNELS)
    data: dict[str, Any] = {"name": name, "external_id": f"demo-{n:05d}", "acquisition_channel": channel}
    city, state, ddd, cep, _ = weighted(rng, [(c, c[4]) for c in CITIES])
    data["phone"] = f"+55 {ddd} 9{rng.randrange(1000, 9999)}-{rng.randrange(1000, 9999)}"
    data["address"] = {
        "line1": f"Rua {rng.choice(COMPANY_NAMES)}, {rng.randrange(1, 2000)}",
        "city": city,
        "region": state,
        "postal_code": postal_code(rng, cep),
        "country": "BR",
    }
    if rng.random() < 0.7:
        kind, industry = rng.choice(COMPANY_TYPES)
        company = f"{kind} {rng.choice(COMPANY_NAMES)}"
        data |= {
            "company": f"{company} Ltda",
            "industry": industry,
            "job_title": rng.choice(JOB_TITLES),
            "email": f"{slug(first)}.{slug(last)}@{slug(company)}.com.br",
        }
    else:
        data["email"] = f"{slug(first)}.{slug(last)}{rng.randrange(1, 999)}@gmail.com"
    data["tags"] = rng.sample(TAGS, rng.choice((0, 1, 1, 2)))
    size, low, high, _ = rng.choice(COMPANY_SIZES)
    data["attributes"] = {"origem": channel, "porte": size, "funcionarios": rng.randint(low, high)}
    return data, channel


def _spend_factor(profile: dict[str, Any]) -> Decimal:
    """How much more (or less) than others this customer spends: by industry and company size."""
    size = next(f for name, _, _, f in COMPANY_SIZES if name == profile["attributes"]["porte"])
    return Decimal(str(round(SPEND_BY_INDUSTRY.get(profile.get("industry") or "", 1.0) * size, 3)))


def _story_for(profile: dict[str, Any], channel: str, rng: random.Random) -> Story:
    """A story, more or less likely as the customer's channel and industry bring it."""
    by_channel = CHANNEL_STORIES.get(channel, {})
    by_industry = INDUSTRY_STORIES.get(profile.get("industry") or "", {})
    weights = [w * by_channel.get(s.__name__, 1.0) * by_industry.get(s.__name__, 1.0) for s, w in STORIES]
    return rng.choices([s for s, _ in STORIES], weights=weights)[0]


@dataclass(frozen=True)
class Demo:
    workspace: WorkspaceRecord
    key: str
    customers: int
    interactions: int


async def create_demo(
    lifecycle: Lifecycle,
    customers: int = 400,
    seed: int = 7,  # (with 2026, the 200-customer demo the tests make happened to fit a degenerate BG/NBD)
    now: datetime | None = None,
    progress: Callable[[int], None] | None = None,
) -> Demo:
    """A demo workspace tracking all four built-in models (funnel primary, three-phase with its
    selection stage), `customers` customers with stories over two years, acquisition spend per
    channel per month, and a fitted value model."""
    rng = random.Random(seed)
    moment = now or datetime.now(UTC)
    ws, key = await create_workspace("Demo: Café & Cia", "BRL", "America/Sao_Paulo", "funnel")
    for model in ("three-phase", "lifespan", "five-phase"):
        await lifecycle_admin.track(lifecycle, ws.id, model, dry_run=False)
    await lifecycle_admin.configure(lifecycle, ws.id, "three-phase", {"use_selection": True})
    recorded = 0
    for n in range(customers):
        recorded += await _customer(lifecycle, ws.id, n, rng, moment)
        if progress:
            progress(n + 1)
    await _spend(ws.id, rng, moment)
    while (await lifecycle.tick(now=moment)).customers:
        pass
    await value.refresh(ws.id, now=moment)
    return Demo(ws, key, customers, recorded)


async def _customer(lifecycle: Lifecycle, workspace_id: int, n: int, rng: random.Random, now: datetime) -> int:
    """Customer `n`: every story once among the first len(STORIES), then as its channel brings them."""
    profile, channel = _profile(rng, n)
    story = STORIES[n][0] if n < len(STORIES) else _story_for(profile, channel, rng)
    factor = _spend_factor(profile)
    events = sorted(story(rng), key=lambda e: -e[0])
    for _, kind, extra in events:
        if kind == "purchase" and "amount" in extra:
            extra["amount"] = (extra["amount"] * factor).quantize(Decimal("0.01"))
    oldest = events[0][0] if events else rng.uniform(1, 60)
    created = now - timedelta(days=oldest + rng.uniform(1, 10))
    saved = await create_customer(workspace_id, profile, now=created, lifecycle=lifecycle)
    items = [
        NewInteraction(
            customer_id=saved.customer.id,
            kind=kind,
            occurred_at=now - timedelta(days=days),
            channel=channel if kind in ("site_visit", "form_submitted", "content_downloaded") else None,
            idempotency_key=f"demo-{n}-{i}",
            **extra,
        )
        for i, (days, kind, extra) in enumerate(events)
    ]
    if items:
        results = await record_many(workspace_id, items, lifecycle.registry.kinds, now=now, lifecycle=lifecycle)
        bad = [r for r in results if isinstance(r, list)]
        assert not bad, bad  # the stories are ours: a refusal is a bug in this module
    return len(items)


async def _spend(workspace_id: int, rng: random.Random, now: datetime) -> None:
    """Monthly spend per paid channel over the last 24 months."""
    month = date(now.year, now.month, 1)
    for _ in range(24):
        previous = (month - timedelta(days=1)).replace(day=1)
        end = month - timedelta(days=1)
        for channel, budget in (("google_ads", 3000), ("meta_ads", 1800), ("instagram", 1200), ("events", 900)):
            amount = Decimal(budget * rng.uniform(0.7, 1.3)).quantize(Decimal("0.01"))
            await record_spend(workspace_id, previous, end, amount, channel)
        month = previous
