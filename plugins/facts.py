"""Customer facts kept up to date one interaction at a time (pure; the host stores the state).

`FactsState` is a small accumulator: folding an interaction into it never needs the customer's
earlier history, and it serialises to JSON so the host keeps one row per customer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from plugins.types import CustomerFacts, InteractionFact

PURCHASE_KINDS = ("purchase", "renewal")
# Lead-score points per interaction kind when a workspace sets none (MODELS.md): models that
# read a lead score declare a `lead_points` parameter with these defaults.
DEFAULT_LEAD_POINTS: Mapping[str, int] = MappingProxyType(
    {
        "site_visit": 1,
        "email_opened": 1,
        "email_clicked": 2,
        "chat": 3,
        "call": 3,
        "content_downloaded": 5,
        "form_submitted": 10,
        "meeting": 15,
        "demo_requested": 20,
    }
)


def _later(a: datetime | None, b: datetime) -> datetime:
    return b if a is None or b > a else a


def _earlier(a: datetime | None, b: datetime) -> datetime:
    return b if a is None or b < a else a


@dataclass
class FactsState:
    """Everything `CustomerFacts` needs that comes from interactions."""

    counts: dict[str, int] = field(default_factory=dict)
    first_at: dict[str, datetime] = field(default_factory=dict)
    last_at: dict[str, datetime] = field(default_factory=dict)
    revenue: Decimal = Decimal(0)
    products: set[str] = field(default_factory=set)
    # (time, score) of the latest survey answers; a late, older answer does not replace them.
    latest_scores: dict[str, tuple[datetime, int]] = field(default_factory=dict)
    # The last snapshot built, and what it was built from: replays ask for the same facts again
    # (before an interaction, what the previous one left) and a fold makes it stale.
    _cached: tuple[Any, CustomerFacts] | None = field(default=None, repr=False, compare=False)
    # Read-only views of the dicts above (which folds change in place) and the products as a
    # frozenset, made once rather than for every snapshot.
    _views: tuple[Mapping[str, int], Mapping[str, datetime], Mapping[str, datetime]] | None = field(
        default=None, repr=False, compare=False
    )
    _frozen_products: frozenset[str] | None = field(default=None, repr=False, compare=False)

    @property
    def last_engaged_at(self) -> datetime | None:
        """The latest interaction of any kind folded in."""
        return max(self.last_at.values()) if self.last_at else None

    def fold(self, event: InteractionFact) -> None:
        self._cached = None
        kind, at = event.kind, event.occurred_at
        self.counts[kind] = self.counts.get(kind, 0) + 1
        self.first_at[kind] = _earlier(self.first_at.get(kind), at)
        self.last_at[kind] = _later(self.last_at.get(kind), at)
        if kind in PURCHASE_KINDS and event.amount is not None:
            self.revenue += event.amount
        elif kind == "refund" and event.amount is not None:
            self.revenue -= event.amount
        if kind == "purchase" and isinstance(event.properties.get("product"), str):
            self.products.add(event.properties["product"])
            self._frozen_products = None
        if event.score is not None:
            previous = self.latest_scores.get(kind)
            if previous is None or at >= previous[0]:
                self.latest_scores[kind] = (at, event.score)

    def snapshot(
        self,
        *,
        as_of: datetime,
        stage_entered_at: datetime,
        created_at: datetime,
        profile: Mapping[str, Any] | None = None,
        event: InteractionFact | None = None,
    ) -> CustomerFacts:
        key = (created_at, profile)  # the profile object itself: compared by identity
        cached = self._cached
        if cached is not None and cached[0][0] == created_at and cached[0][1] is profile:
            facts = object.__new__(CustomerFacts)
            facts.__dict__.update(cached[1].__dict__)
            facts.__dict__.update(as_of=as_of, stage_entered_at=stage_entered_at, event=event)
            return facts
        facts = self._build(as_of, stage_entered_at, created_at, profile or {}, event)
        self._cached = (key, facts)
        return facts

    def _build(
        self,
        as_of: datetime,
        stage_entered_at: datetime,
        created_at: datetime,
        profile: Mapping[str, Any],
        event: InteractionFact | None,
    ) -> CustomerFacts:
        counts, first_at, last_at = self.counts, self.first_at, self.last_at
        if self._views is None:
            self._views = (MappingProxyType(counts), MappingProxyType(first_at), MappingProxyType(last_at))
        if self._frozen_products is None:
            self._frozen_products = frozenset(self.products)
        subs = counts.get("subscription_started", 0) - counts.get("subscription_cancelled", 0)
        tags = profile.get("tags") or ()
        attributes = profile.get("attributes") or {}
        # Read-only views, not copies, set without the frozen dataclass's per-field __setattr__:
        # a snapshot is built for every interaction of every replay.
        facts = object.__new__(CustomerFacts)
        facts.__dict__.update(
            as_of=as_of,
            stage_entered_at=stage_entered_at,
            created_at=created_at,
            counts=self._views[0],
            first_at=self._views[1],
            last_at=self._views[2],
            orders=counts.get("purchase", 0),
            revenue=self.revenue,
            first_purchase_at=first_at.get("purchase"),
            last_purchase_at=last_at.get("purchase"),
            products=self._frozen_products,
            latest_nps=self._score("nps_response"),
            latest_csat=self._score("csat_response"),
            latest_review_score=self._score("review"),
            referrals=counts.get("referral", 0),
            active_subscriptions=max(subs, 0),
            last_engaged_at=self.last_engaged_at,
            job_title=profile.get("job_title"),
            industry=profile.get("industry"),
            tags=tags if isinstance(tags, frozenset) else frozenset(tags),
            attributes=attributes if isinstance(attributes, MappingProxyType) else MappingProxyType(attributes),
            event=event,
        )
        return facts

    def _score(self, kind: str) -> int | None:
        found = self.latest_scores.get(kind)
        return found[1] if found else None

    def to_json(self) -> dict[str, Any]:
        """Plain JSON data (times as ISO 8601 strings), which `from_json` reads back."""
        data = self.to_data()
        data["k"] = {k: [n, first.isoformat(), last.isoformat()] for k, (n, first, last) in data["k"].items()}
        data["s"] = {k: [t.isoformat(), s] for k, (t, s) in data["s"].items()}
        return data

    def to_data(self) -> dict[str, Any]:
        """As `to_json`, with the times left as datetimes, for a serializer that writes them as
        ISO 8601 itself (the host's, on the ingestion path). Per kind [count, first, last]: the
        host rewrites this row for every customer of every ingested batch, so it is kept small."""
        first_at, last_at = self.first_at, self.last_at
        return {
            "v": 2,
            "k": {k: [n, first_at[k], last_at[k]] for k, n in self.counts.items()},
            "r": str(self.revenue),
            "p": sorted(self.products),
            "s": {k: [t, s] for k, (t, s) in self.latest_scores.items()},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> FactsState:
        """Read `to_json`'s data back (and the first format, with a dict per field, that rows
        written before it hold)."""
        if not data:
            return cls()
        if data.get("v") != 2:
            return cls._from_first(data)
        counts: dict[str, int] = {}
        first_at: dict[str, datetime] = {}
        last_at: dict[str, datetime] = {}
        for kind, (n, first, last) in data["k"].items():
            counts[kind] = n
            first_at[kind] = datetime.fromisoformat(first)
            last_at[kind] = datetime.fromisoformat(last)
        return cls(
            counts=counts,
            first_at=first_at,
            last_at=last_at,
            revenue=Decimal(data["r"]),
            products=set(data["p"]),
            latest_scores={k: (datetime.fromisoformat(t), int(s)) for k, (t, s) in data["s"].items()},
        )

    @classmethod
    def _from_first(cls, data: Mapping[str, Any]) -> FactsState:
        return cls(
            counts=dict(data.get("counts", {})),
            first_at={k: datetime.fromisoformat(v) for k, v in data.get("first_at", {}).items()},
            last_at={k: datetime.fromisoformat(v) for k, v in data.get("last_at", {}).items()},
            revenue=Decimal(data.get("revenue", "0")),
            products=set(data.get("products", [])),
            latest_scores={
                k: (datetime.fromisoformat(t), int(s)) for k, (t, s) in data.get("latest_scores", {}).items()
            },
        )
