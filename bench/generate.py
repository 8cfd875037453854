"""A reproducible data set for benchmarks: one workspace, N customers, M interactions.

The workspace and its ADMIN key are made through the service (`api.workspaces`), exactly as
`jornada workspace create` does; customers, their tags and their interactions are then written in
bulk (COPY on PostgreSQL, one `executemany` per table on SQLite), never through GraphQL.

The rows are a pure function of (customers, interactions, seed, end): the same arguments give
the same names, emails, times, amounts and scores, in the same insertion order, on SQLite and on
PostgreSQL. `Dataset.digest` fingerprints them. Only the workspace's own row and its key secret
(random by design) differ between runs.

    python -m bench.generate sqlite:///tmp/bench.sqlite3 --customers 10000 --interactions 100000
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.context import TortoiseContext
from tortoise.transactions import in_transaction

from api.customers import clean_customer_fields, derived_columns
from api.db import Params, connection, dialect_of
from api.demo_people import (
    CHANNELS,
    CITIES,
    COMPANY_NAMES,
    COMPANY_SUFFIXES,
    COMPANY_TYPES,
    JOB_TITLES,
    MAIL_DOMAINS,
    PRODUCTS,
    STREETS,
    TAGS,
    moment,
    person_name,
    postal_code,
    slug,
    weighted,
)
from api.interactions import NewInteraction, validate
from api.migrate import apply_migrations
from api.settings import Settings
from api.workspaces import create_workspace
from stages.kinds import BUILTIN_KINDS

DEFAULT_SEED = 42
# A fixed end, not "now": the data must not depend on the day it is generated.
DEFAULT_END = datetime(2026, 1, 1, tzinfo=UTC)
SPAN = timedelta(days=730)

PAGES = ("/", "/precos", "/produtos", "/blog/como-fidelizar-clientes", "/contato", "/sobre", "/blog")
CAMPAIGNS = ("boas-vindas", "black-friday", "natal", "dia-das-maes", "reativacao", "newsletter-mensal")

# kind -> (weight, channels)
KIND_MIX: dict[str, tuple[float, tuple[str, ...]]] = {
    "site_visit": (22, ("web",)),
    "email_opened": (16, ("email",)),
    "email_clicked": (6, ("email",)),
    "first_contact": (3, ("whatsapp", "phone", "web", "instagram")),
    "form_submitted": (3, ("web",)),
    "content_downloaded": (2, ("web",)),
    "chat": (7, ("whatsapp", "web_chat")),
    "sms": (2, ("sms",)),
    "call": (4, ("phone", "video")),
    "demo_requested": (1, ("web",)),
    "meeting": (2, ("in_person", "video")),
    "proposal_sent": (1.5, ("email",)),
    "purchase": (9, ("store", "web", "app", "whatsapp")),
    "renewal": (1.5, ("web", "app")),
    "subscription_started": (1, ("web", "app")),
    "subscription_cancelled": (0.5, ("web", "phone")),
    "refund": (0.6, ("store", "web")),
    "support_ticket_opened": (3, ("email", "whatsapp", "phone")),
    "support_ticket_resolved": (2.5, ("email", "whatsapp", "phone")),
    "nps_response": (3, ("email", "web")),
    "csat_response": (2, ("email", "whatsapp")),
    "review": (1, ("google", "reclame_aqui", "instagram")),
    "referral": (1, ("web", "whatsapp")),
}
NPS_WEIGHTS = (2, 1, 1, 2, 2, 4, 5, 9, 16, 24, 34)  # scores 0..10, skewed to promoters
FIVE_WEIGHTS = (4, 6, 14, 36, 40)  # scores 1..5
# fmt: on


# --- rows -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CustomerRow:
    """One customer, in the shape of the `customer` table (JSON columns still as Python values)."""

    external_id: str | None
    name: str | None
    sort_name: str
    search_text: str
    email: str | None
    phone: str | None
    company: str | None
    job_title: str | None
    industry: str | None
    address: dict[str, Any] | None
    social_profiles: list[dict[str, Any]]
    tags: list[str]
    attributes: dict[str, Any]
    acquisition_channel: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class InteractionRow:
    """One interaction; `customer` is the index of its customer in `Dataset.customers`."""

    customer: int
    kind: str
    channel: str | None
    occurred_at: datetime
    amount: Decimal | None
    score: int | None
    properties: dict[str, Any]
    idempotency_key: str | None
    created_at: datetime


@dataclass(frozen=True)
class Dataset:
    """Every generated row, in insertion order (customers by creation, interactions by recording)."""

    seed: int
    customers: list[CustomerRow]
    interactions: list[InteractionRow]

    @property
    def tag_count(self) -> int:
        return sum(len(c.tags) for c in self.customers)

    @property
    def digest(self) -> str:
        """A fingerprint of every row: equal digests, equal data."""
        h = hashlib.sha256()
        for c in self.customers:
            h.update(repr(_customer_tuple(c)).encode())
        for i in self.interactions:
            h.update(repr(_interaction_tuple(i)).encode())
        return h.hexdigest()[:16]


@dataclass(frozen=True)
class Generated:
    """What `generate` made: the workspace, its ADMIN key, and row counts."""

    workspace_id: int
    api_key: str
    customers: int
    interactions: int
    tags: int
    digest: str
    build_seconds: float
    insert_seconds: float


def _customer(rng: random.Random, index: int, created_at: datetime, end: datetime) -> CustomerRow:
    name, first, last = person_name(rng)
    city, state, ddd, cep, _ = weighted(rng, [(c, c[4]) for c in CITIES])
    company = job_title = industry = None
    if rng.random() < 0.4:
        kind, industry = rng.choice(COMPANY_TYPES)
        core = f"{kind} {rng.choice(COMPANY_NAMES)}"
        suffix = rng.choice(COMPANY_SUFFIXES)
        company = f"{core} {suffix}".strip()
        job_title = rng.choice(JOB_TITLES)
        email = f"{slug(first)}.{slug(last)}@{slug(core)}.com.br"
    else:
        user = rng.choice(
            (
                f"{slug(first)}.{slug(last)}",
                f"{slug(first)}{slug(last)}",
                f"{slug(first)}_{slug(last)}",
            )
        )
        if rng.random() < 0.6:
            user += str(rng.randrange(1, 2000))
        email = f"{user}@{weighted(rng, MAIL_DOMAINS)}"
    phone = f"+55{ddd}9{rng.randrange(10**7, 10**8)}" if rng.random() < 0.85 else None
    address = None
    if rng.random() < 0.6:
        address = {
            "line1": f"{rng.choice(STREETS)}, {rng.randrange(1, 3000)}",
            "city": city,
            "region": state,
            "postal_code": postal_code(rng, cep),
            "country": "BR",
        }
        if rng.random() < 0.3:
            address["line2"] = rng.choice(("Apto 12", "Sala 305", "Bloco B", "Casa 2", "Loja 4"))
    profiles: list[dict[str, Any]] = []
    if rng.random() < 0.3:
        profiles.append({"network": "instagram", "handle": f"@{slug(first)}.{slug(last)}"})
    if company and rng.random() < 0.5:
        handle = slug(f"{first} {last}", "-")
        profiles.append({"network": "linkedin", "url": f"https://www.linkedin.com/in/{handle}-{index}"})
    tags = rng.sample(TAGS, rng.choice((0, 0, 1, 1, 1, 2, 2, 3)))
    if company:
        tags.insert(0, "b2b")
    attributes: dict[str, Any] = {}
    if rng.random() < 0.7:
        attributes["plano"] = rng.choice(("basico", "pro", "empresa"))
    if rng.random() < 0.5:
        attributes["aceita_marketing"] = rng.random() < 0.7
    if rng.random() < 0.3:
        attributes["score_credito"] = rng.randrange(300, 1000)
    channel = weighted(rng, CHANNELS) if rng.random() < 0.9 else None
    external_id = f"crm-{index + 1:07d}" if rng.random() < 0.7 else None
    updated_at = created_at if rng.random() < 0.6 else moment(rng, created_at, end)
    values = clean_customer_fields(
        {
            "external_id": external_id,
            "name": name,
            "email": email,
            "phone": phone,
            "company": company,
            "job_title": job_title,
            "industry": industry,
            "address": address,
            "social_profiles": profiles,
            "tags": tags,
            "attributes": attributes,
            "acquisition_channel": channel,
        }
    )
    derived = derived_columns(values)
    return CustomerRow(
        external_id=values["external_id"],
        name=values["name"],
        sort_name=derived["sort_name"],
        search_text=derived["search_text"],
        email=values["email"],
        phone=values["phone"],
        company=values["company"],
        job_title=values["job_title"],
        industry=values["industry"],
        address=values["address"],
        social_profiles=values["social_profiles"],
        tags=values["tags"],
        attributes=values["attributes"],
        acquisition_channel=values["acquisition_channel"],
        created_at=created_at,
        updated_at=updated_at,
    )


def _money(value: float) -> Decimal:
    return Decimal(f"{max(value, 1.0):.2f}")


def _interaction(
    rng: random.Random, n: int, customer: int, created_at: datetime, end: datetime, kind: str
) -> InteractionRow:
    channels = KIND_MIX[kind][1]
    occurred_at = moment(rng, created_at, end)
    amount: Decimal | None = None
    score: int | None = None
    key: str | None = None
    props: dict[str, Any] = {}
    if kind == "purchase":
        product, price = rng.choice(PRODUCTS)
        qty = rng.choice((1, 1, 1, 1, 2, 2, 3, 5))
        amount = _money(float(price) * qty * rng.uniform(0.85, 1.0))
        props = {"product": product, "quantity": qty, "order_id": f"PED-{n + 1:08d}"}
        key = f"order-{n + 1:08d}"
    elif kind == "renewal":
        product, price = rng.choice(PRODUCTS[:3] + PRODUCTS[7:])
        amount = price
        props = {"product": product}
        key = f"renewal-{n + 1:08d}"
    elif kind == "refund":
        amount = _money(rng.lognormvariate(math.log(90), 0.8))
        props = {"reason": rng.choice(("defeito", "arrependimento", "cobranca_duplicada"))}
        key = f"refund-{n + 1:08d}"
    elif kind == "nps_response":
        score = rng.choices(range(11), weights=NPS_WEIGHTS)[0]
        if rng.random() < 0.3:
            props = {"comment": rng.choice(("Atendimento ótimo!", "Entrega atrasou.", "Recomendo."))}
    elif kind == "csat_response":
        score = rng.choices(range(1, 6), weights=FIVE_WEIGHTS)[0]
    elif kind == "review":
        score = rng.choices(range(1, 6), weights=FIVE_WEIGHTS)[0] if rng.random() < 0.8 else None
    elif kind == "site_visit":
        props = {"path": rng.choice(PAGES), "utm_source": rng.choice(("google", "instagram", "direct"))}
    elif kind in ("email_opened", "email_clicked"):
        props = {"campaign": rng.choice(CAMPAIGNS)}
    elif kind in ("support_ticket_opened", "support_ticket_resolved"):
        props = {"ticket": f"TCK-{rng.randrange(10**5, 10**6)}"}
    elif kind == "form_submitted":
        props = {"form": rng.choice(("contato", "orcamento", "newsletter"))}
    if key is None and rng.random() < 0.3:
        key = f"evt-{n + 1:08d}"  # events that came from a webhook carry their id
    return InteractionRow(
        customer=customer,
        kind=kind,
        channel=rng.choice(channels),
        occurred_at=occurred_at,
        amount=amount,
        score=score,
        properties=props,
        idempotency_key=key,
        created_at=occurred_at + timedelta(milliseconds=rng.randrange(200, 180_000)),
    )


def build_dataset(customers: int, interactions: int, seed: int = DEFAULT_SEED, end: datetime = DEFAULT_END) -> Dataset:
    """Every row, deterministic in its arguments. Rows are validated like the API would."""
    if customers < 1 and interactions:
        raise ValueError("interactions need at least one customer")
    rng = random.Random(seed)
    start = end - SPAN
    # More customers join recently (a growing business): u**0.7 leans towards the end.
    created = sorted(start + (end - start) * (rng.random() ** 0.7) for _ in range(customers))
    rows = [_customer(rng, n, at, end) for n, at in enumerate(created)]
    # A few customers do most things: log-normal activity weights.
    activity = [rng.lognormvariate(0.0, 1.0) for _ in range(customers)]
    kinds = list(KIND_MIX)
    owners = rng.choices(range(customers), weights=activity, k=interactions) if interactions else []
    picked = rng.choices(kinds, weights=[KIND_MIX[k][0] for k in kinds], k=interactions)
    items = [
        _interaction(rng, n, owner, rows[owner].created_at, end, kind)
        for n, (owner, kind) in enumerate(zip(owners, picked, strict=True))
    ]
    items.sort(key=lambda i: i.created_at)  # recorded in time order, so ids follow time
    _validate(items, end)
    return Dataset(seed, rows, items)


def _validate(items: Sequence[InteractionRow], end: datetime) -> None:
    kinds = {k.key: k for k in BUILTIN_KINDS}
    for item in items:
        new = NewInteraction(
            customer_id=item.customer + 1,
            kind=item.kind,
            occurred_at=item.occurred_at,
            channel=item.channel,
            amount=item.amount,
            score=item.score,
            properties=item.properties,
            idempotency_key=item.idempotency_key,
        )
        problems = validate(new, kinds, end)
        if problems:
            raise AssertionError(f"generated an invalid interaction {item}: {problems}")


# --- writing ----------------------------------------------------------------------------------

CUSTOMER_INSERT_COLUMNS = (
    "workspace_id",
    "external_id",
    "name",
    "sort_name",
    "search_text",
    "email",
    "phone",
    "company",
    "job_title",
    "industry",
    "address",
    "social_profiles",
    "tags",
    "attributes",
    "acquisition_channel",
    "created_at",
    "updated_at",
)
INTERACTION_INSERT_COLUMNS = (
    "workspace_id",
    "customer_id",
    "kind",
    "channel",
    "occurred_at",
    "amount",
    "score",
    "properties",
    "idempotency_key",
    "created_at",
)
TAG_INSERT_COLUMNS = ("workspace_id", "customer_id", "tag")


def _json(value: Any) -> str | None:
    # The same compact encoding as the models' JSONFields.
    return None if value is None else json.dumps(value, separators=(",", ":"))


def _customer_tuple(c: CustomerRow) -> tuple[Any, ...]:
    return (
        c.external_id,
        c.name,
        c.sort_name,
        c.search_text,
        c.email,
        c.phone,
        c.company,
        c.job_title,
        c.industry,
        _json(c.address),
        _json(c.social_profiles),
        _json(c.tags),
        _json(c.attributes),
        c.acquisition_channel,
        c.created_at,
        c.updated_at,
    )


def _interaction_tuple(i: InteractionRow) -> tuple[Any, ...]:
    return (
        i.customer,
        i.kind,
        i.channel,
        i.occurred_at,
        i.amount,
        i.score,
        _json(i.properties),
        i.idempotency_key,
        i.created_at,
    )


def _sqlite_value(value: Any) -> Any:
    """What Tortoise itself stores on SQLite: str(datetime) and 4-decimal strings."""
    if isinstance(value, datetime):
        return str(value)
    if isinstance(value, Decimal):
        return f"{value:.4f}"
    return value


def _insert_sql(table: str, columns: Sequence[str]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"


async def _write(conn: BaseDBAsyncClient, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
    if not rows:
        return
    if dialect_of(conn) == "postgres":
        async with conn.acquire_connection() as raw:
            await raw.copy_records_to_table(table, records=rows, columns=list(columns))
    else:
        await conn.execute_many(_insert_sql(table, columns), [[_sqlite_value(v) for v in r] for r in rows])


async def _customer_ids(conn: BaseDBAsyncClient, workspace_id: int) -> list[int]:
    p = Params(dialect_of(conn))
    rows = await conn.execute_query_dict(
        f"SELECT id FROM customer WHERE workspace_id = {p(workspace_id)} ORDER BY id", p.values
    )
    return [int(r["id"]) for r in rows]


async def insert_dataset(workspace_id: int, data: Dataset) -> None:
    """Write every row of `data` into the (new, empty) workspace in one transaction."""
    async with in_transaction() as tx:
        customers = [(workspace_id, *_customer_tuple(c)) for c in data.customers]
        await _write(tx, "customer", CUSTOMER_INSERT_COLUMNS, customers)
        # One session inserting in order: ids ascend in insertion order, so they map back by rank.
        ids = await _customer_ids(tx, workspace_id)
        if len(ids) != len(data.customers):
            raise RuntimeError(f"workspace {workspace_id} was not empty: found {len(ids)} customers")
        tags = [(workspace_id, ids[n], tag) for n, c in enumerate(data.customers) for tag in c.tags]
        await _write(tx, "customer_tag", TAG_INSERT_COLUMNS, tags)
        interactions = [(workspace_id, ids[i.customer], *_interaction_tuple(i)[1:]) for i in data.interactions]
        await _write(tx, "interaction", INTERACTION_INSERT_COLUMNS, interactions)
    # Fresh statistics, as autovacuum (PostgreSQL) or a maintained SQLite file would have.
    conn = connection()
    if dialect_of(conn) == "postgres":
        await conn.execute_script("VACUUM (ANALYZE) customer, customer_tag, interaction")
    else:
        await conn.execute_script("ANALYZE")


async def generate(
    database_url: str,
    customers: int,
    interactions: int,
    seed: int = DEFAULT_SEED,
    *,
    end: datetime = DEFAULT_END,
    migrate: bool = True,
    workspace_name: str | None = None,
) -> Generated:
    """Migrate, create a workspace with an ADMIN key, and fill it with the seeded data set."""
    settings = Settings(database_url=database_url)
    started = time.perf_counter()
    data = build_dataset(customers, interactions, seed, end)
    built = time.perf_counter()
    if migrate:
        await apply_migrations(settings)
    async with TortoiseContext() as ctx:
        await ctx.init(config=settings.tortoise_config())
        workspace, secret = await create_workspace(
            workspace_name or f"Bench Comércio Ltda (seed {seed})", "BRL", "America/Sao_Paulo"
        )
        await insert_dataset(workspace.id, data)
    done = time.perf_counter()
    return Generated(
        workspace_id=workspace.id,
        api_key=secret,
        customers=len(data.customers),
        interactions=len(data.interactions),
        tags=data.tag_count,
        digest=data.digest,
        build_seconds=built - started,
        insert_seconds=done - built,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.generate", description=__doc__.split("\n")[0])
    parser.add_argument("database_url", help="e.g. sqlite:///tmp/bench.sqlite3 or postgres://user@host/db")
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--interactions", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    made = asyncio.run(generate(args.database_url, args.customers, args.interactions, args.seed))
    if args.json:
        print(
            json.dumps(
                {
                    "workspaceId": made.workspace_id,
                    "apiKey": made.api_key,
                    "customers": made.customers,
                    "interactions": made.interactions,
                    "tags": made.tags,
                    "digest": made.digest,
                }
            )
        )
    else:
        print(
            f"workspace {made.workspace_id}: {made.customers} customers, {made.tags} tags, "
            f"{made.interactions} interactions (digest {made.digest}; "
            f"built in {made.build_seconds:.1f}s, written in {made.insert_seconds:.1f}s)"
        )
        print(f"ADMIN API key: {made.api_key}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
