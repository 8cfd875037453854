"""Tortoise ORM rows. GraphQL types live in `schema/`; only `api` services touch these."""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model


class Workspace(Model):
    """One business. Every other row belongs to exactly one workspace."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=200)
    currency = fields.CharField(max_length=3, default="BRL")
    timezone = fields.CharField(max_length=64, default="UTC")
    # Gross margin applied to revenue in CLV figures; 1 means CLV is stated in revenue.
    gross_margin = fields.DecimalField(max_digits=5, decimal_places=4, default=1, db_default=1)
    # The weights of the health score's parts (api.health); null: the defaults.
    health_weights: fields.Field[dict[str, Any] | None] = fields.JSONField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "workspace"


class ApiKey(Model):
    """An API key. Only the SHA-256 of the secret is kept."""

    id = fields.IntField(primary_key=True)
    workspace: fields.ForeignKeyRelation[Workspace] = fields.ForeignKeyField(
        "models.Workspace", related_name="api_keys", on_delete=fields.CASCADE
    )
    name = fields.CharField(max_length=200)
    role = fields.CharField(max_length=10)
    prefix = fields.CharField(max_length=16)
    key_hash = fields.CharField(max_length=64, unique=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "api_key"


class Customer(Model):
    """A person or company that a workspace does business with."""

    id = fields.IntField(primary_key=True)
    workspace: fields.ForeignKeyRelation[Workspace] = fields.ForeignKeyField(
        "models.Workspace", related_name="customers", on_delete=fields.CASCADE
    )
    external_id = fields.CharField(max_length=200, null=True)
    name = fields.CharField(max_length=300, null=True)
    # Derived on every write: a NOT NULL, case-folded name so that ordering by name is a plain
    # keyset over an index (NULL names would sort differently on SQLite and PostgreSQL).
    sort_name = fields.CharField(max_length=300, default="", db_default="")
    # Lower-cased copy of name/email/company so that text search is one indexed-friendly LIKE.
    search_text = fields.TextField(default="", db_default="")
    email = fields.CharField(max_length=320, null=True)
    phone = fields.CharField(max_length=32, null=True)
    company = fields.CharField(max_length=300, null=True)
    job_title = fields.CharField(max_length=200, null=True)
    industry = fields.CharField(max_length=200, null=True)
    address: fields.Field[dict[str, Any] | None] = fields.JSONField(null=True)
    social_profiles: fields.Field[list[dict[str, Any]]] = fields.JSONField(default=list)
    tags: fields.Field[list[str]] = fields.JSONField(default=list)
    attributes: fields.Field[dict[str, Any]] = fields.JSONField(default=dict)
    acquisition_channel = fields.CharField(max_length=100, null=True)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "customer"
        unique_together = (("workspace", "external_id"),)
        indexes = (
            Index(fields=("workspace_id", "created_at", "id"), name="customer_ws_created"),
            Index(fields=("workspace_id", "updated_at", "id"), name="customer_ws_updated"),
            Index(fields=("workspace_id", "sort_name", "id"), name="customer_ws_name"),
            Index(fields=("workspace_id", "email"), name="customer_ws_email"),
            Index(fields=("workspace_id", "acquisition_channel"), name="customer_ws_channel"),
        )


class CustomerTag(Model):
    """One tag of one customer, in a table of its own so that tag filters use an index."""

    id = fields.IntField(primary_key=True)
    workspace: fields.ForeignKeyRelation[Workspace] = fields.ForeignKeyField(
        "models.Workspace", related_name="customer_tags", on_delete=fields.CASCADE
    )
    customer: fields.ForeignKeyRelation[Customer] = fields.ForeignKeyField(
        "models.Customer", related_name="tag_rows", on_delete=fields.CASCADE
    )
    tag = fields.CharField(max_length=100)

    class Meta:
        table = "customer_tag"
        unique_together = (("customer", "tag"),)
        indexes = (Index(fields=("workspace_id", "tag"), name="customer_tag_ws_tag"),)


class Interaction(Model):
    """Something that happened with a customer. Append-only, idempotent by key."""

    id = fields.IntField(primary_key=True)
    workspace: fields.ForeignKeyRelation[Workspace] = fields.ForeignKeyField(
        "models.Workspace", related_name="interactions", on_delete=fields.CASCADE
    )
    customer: fields.ForeignKeyRelation[Customer] = fields.ForeignKeyField(
        "models.Customer", related_name="interactions", on_delete=fields.CASCADE
    )
    kind = fields.CharField(max_length=64)
    channel = fields.CharField(max_length=100, null=True)
    occurred_at = fields.DatetimeField()
    amount = fields.DecimalField(max_digits=18, decimal_places=4, null=True)
    score = fields.IntField(null=True)
    properties: fields.Field[dict[str, Any]] = fields.JSONField(default=dict)
    idempotency_key = fields.CharField(max_length=200, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "interaction"
        unique_together = (("workspace", "idempotency_key"),)
        indexes = (
            Index(fields=("customer_id", "occurred_at", "id"), name="interaction_customer_time"),
            Index(fields=("workspace_id", "occurred_at", "id"), name="interaction_ws_time"),
            Index(fields=("workspace_id", "kind", "occurred_at"), name="interaction_ws_kind"),
        )


class AcquisitionSpend(Model):
    """Money spent acquiring customers over a period, optionally per channel (for CAC)."""

    id = fields.IntField(primary_key=True)
    workspace: fields.ForeignKeyRelation[Workspace] = fields.ForeignKeyField(
        "models.Workspace", related_name="acquisition_spend", on_delete=fields.CASCADE
    )
    channel = fields.CharField(max_length=100, null=True)
    period_start = fields.DateField()
    period_end = fields.DateField()
    amount = fields.DecimalField(max_digits=18, decimal_places=4)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "acquisition_spend"
        indexes = (Index(fields=("workspace_id", "period_start"), name="spend_ws_period"),)


class WorkspaceModel(Model):
    """A lifecycle model a workspace tracks (or tracked), with its parameter overrides."""

    id = fields.IntField(primary_key=True)
    workspace: fields.ForeignKeyRelation[Workspace] = fields.ForeignKeyField(
        "models.Workspace", related_name="models", on_delete=fields.CASCADE
    )
    model_key = fields.CharField(max_length=100)
    is_primary = fields.BooleanField(default=False, db_default=False)
    tracked = fields.BooleanField(default=True, db_default=True)
    params: fields.Field[dict[str, Any]] = fields.JSONField(default=dict)
    enabled_at = fields.DatetimeField()

    class Meta:
        table = "workspace_model"
        unique_together = (("workspace", "model_key"),)


class CustomerFactsRow(Model):
    """The running facts of one customer, folded one interaction at a time (see plugins.facts)."""

    id = fields.IntField(primary_key=True)
    workspace: fields.ForeignKeyRelation[Workspace] = fields.ForeignKeyField(
        "models.Workspace", related_name="customer_facts", on_delete=fields.CASCADE
    )
    customer: fields.OneToOneRelation[Customer] = fields.OneToOneField(
        "models.Customer", related_name="facts", on_delete=fields.CASCADE
    )
    data: fields.Field[dict[str, Any]] = fields.JSONField(default=dict)
    updated_at = fields.DatetimeField()

    class Meta:
        table = "customer_facts"


class StageAssignment(Model):
    """Where a customer stands in one model now, since when, and when it next needs a look."""

    id = fields.IntField(primary_key=True)
    workspace: fields.ForeignKeyRelation[Workspace] = fields.ForeignKeyField(
        "models.Workspace", related_name="assignments", on_delete=fields.CASCADE
    )
    customer: fields.ForeignKeyRelation[Customer] = fields.ForeignKeyField(
        "models.Customer", related_name="assignments", on_delete=fields.CASCADE
    )
    model_key = fields.CharField(max_length=100)
    stage = fields.CharField(max_length=100)
    entered_at = fields.DatetimeField()
    next_check_at = fields.DatetimeField(null=True)
    updated_at = fields.DatetimeField()

    class Meta:
        table = "stage_assignment"
        unique_together = (("customer", "model_key"),)
        indexes = (
            Index(fields=("workspace_id", "model_key", "stage"), name="assignment_ws_model_stage"),
            Index(fields=("next_check_at",), name="assignment_due"),
        )


class StageTransition(Model):
    """One recorded move of a customer in a model, with its cause. Never rewritten."""

    id = fields.IntField(primary_key=True)
    workspace: fields.ForeignKeyRelation[Workspace] = fields.ForeignKeyField(
        "models.Workspace", related_name="transitions", on_delete=fields.CASCADE
    )
    customer: fields.ForeignKeyRelation[Customer] = fields.ForeignKeyField(
        "models.Customer", related_name="transitions", on_delete=fields.CASCADE
    )
    model_key = fields.CharField(max_length=100)
    model_version = fields.CharField(max_length=50)
    from_stage = fields.CharField(max_length=100, null=True)
    to_stage = fields.CharField(max_length=100)
    occurred_at = fields.DatetimeField()
    cause = fields.CharField(max_length=10)
    rule = fields.CharField(max_length=100, null=True)
    interaction_id = fields.IntField(null=True)
    actor = fields.CharField(max_length=200, null=True)
    note = fields.TextField(null=True)
    # A rebuild (a late interaction, re-tracking a model) archives the transitions it replaces
    # instead of deleting them, saying when and why.
    archived = fields.BooleanField(default=False, db_default=False)
    superseded_at = fields.DatetimeField(null=True)
    superseded_reason = fields.TextField(null=True)
    # Written by a rebuild that superseded earlier moves of the customer.
    correction = fields.BooleanField(default=False, db_default=False)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "stage_transition"
        indexes = (
            Index(fields=("workspace_id", "model_key", "occurred_at"), name="transition_ws_model_time"),
            Index(fields=("customer_id", "model_key", "occurred_at", "id"), name="transition_customer"),
        )


class ValueModel(Model):
    """A workspace's fitted BG/NBD and Gamma-Gamma models and the settings of its CLV figures."""

    id = fields.IntField(primary_key=True)
    workspace: fields.OneToOneRelation[Workspace] = fields.OneToOneField(
        "models.Workspace", related_name="value_model", on_delete=fields.CASCADE
    )
    calibration_end = fields.DateField()
    horizon_weeks = fields.IntField()
    annual_discount_rate = fields.FloatField()
    params: fields.Field[dict[str, Any]] = fields.JSONField(default=dict)
    customers = fields.IntField()
    repeat_customers = fields.IntField()
    error = fields.TextField(null=True)
    fitted_at = fields.DatetimeField()  # when the fit was last attempted
    status = fields.CharField(max_length=16, default="OK", db_default="OK")  # OK, DEGENERATE, FAILED
    reasons: fields.Field[list[str] | None] = fields.JSONField(null=True)  # why not OK, in words

    class Meta:
        table = "value_model"


class CustomerValue(Model):
    """One customer's purchase summary and predictions from the workspace's value model."""

    id = fields.IntField(primary_key=True)
    workspace: fields.ForeignKeyRelation[Workspace] = fields.ForeignKeyField(
        "models.Workspace", related_name="customer_values", on_delete=fields.CASCADE
    )
    customer: fields.OneToOneRelation[Customer] = fields.OneToOneField(
        "models.Customer", related_name="value", on_delete=fields.CASCADE
    )
    frequency = fields.IntField()
    recency_weeks = fields.FloatField()
    age_weeks = fields.FloatField()
    monetary = fields.FloatField()
    p_alive = fields.FloatField(null=True)
    expected_purchases = fields.FloatField(null=True)
    expected_spend = fields.FloatField(null=True)
    predicted_clv = fields.FloatField(null=True)
    computed_at = fields.DatetimeField()

    class Meta:
        table = "customer_value"
        indexes = (
            Index(fields=("workspace_id", "predicted_clv"), name="customer_value_ws_clv"),
            Index(fields=("workspace_id", "p_alive"), name="customer_value_ws_alive"),
        )


class WebhookEndpoint(Model):
    """A URL of the business's that receives the workspace's events, signed with its secret
    (Standard Webhooks). After a rotation the previous secret signs too, until it expires."""

    id = fields.IntField(primary_key=True)
    workspace: fields.ForeignKeyRelation[Workspace] = fields.ForeignKeyField(
        "models.Workspace", related_name="webhook_endpoints", on_delete=fields.CASCADE
    )
    url = fields.CharField(max_length=2000)
    description = fields.CharField(max_length=500, default="", db_default="")
    events: fields.Field[list[str]] = fields.JSONField(default=list)
    secret = fields.CharField(max_length=100)
    previous_secret = fields.CharField(max_length=100, null=True)
    previous_secret_expires_at = fields.DatetimeField(null=True)
    enabled = fields.BooleanField(default=True, db_default=True)
    disabled_reason = fields.TextField(null=True)
    disabled_at = fields.DatetimeField(null=True)
    # Set by the first failed attempt after a success, cleared by the next success.
    failing_since = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "webhook_endpoint"
        indexes = (Index(fields=("workspace_id", "enabled"), name="webhook_endpoint_ws"),)


class WebhookDelivery(Model):
    """The outbox: one event for one endpoint, written in the transaction of the change that
    caused it, sent (and retried) by the delivery worker. `message_id` is the `webhook-id`,
    the same on every attempt."""

    id = fields.BigIntField(primary_key=True)
    workspace: fields.ForeignKeyRelation[Workspace] = fields.ForeignKeyField(
        "models.Workspace", related_name="webhook_deliveries", on_delete=fields.CASCADE
    )
    endpoint: fields.ForeignKeyRelation[WebhookEndpoint] = fields.ForeignKeyField(
        "models.WebhookEndpoint", related_name="deliveries", on_delete=fields.CASCADE
    )
    message_id = fields.CharField(max_length=64)
    event_type = fields.CharField(max_length=64)
    payload = fields.TextField()  # the body, as sent
    status = fields.CharField(max_length=10, default="PENDING", db_default="PENDING")  # DELIVERED, FAILED
    attempts = fields.IntField(default=0, db_default=0)
    next_attempt_at = fields.DatetimeField(null=True)  # NULL once delivered or given up
    last_attempt_at = fields.DatetimeField(null=True)
    response_status = fields.IntField(null=True)
    last_error = fields.TextField(null=True)
    delivered_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "webhook_delivery"
        indexes = (
            Index(fields=("next_attempt_at",), name="webhook_delivery_due"),
            Index(fields=("endpoint_id", "id"), name="webhook_delivery_endpoint"),
        )


class Segment(Model):
    """A saved customer filter with a key of the workspace's choosing (`vip`), usable wherever a
    filter is: `definition` is the `CustomerFilter` input as a client would send it in variables."""

    id = fields.IntField(primary_key=True)
    workspace: fields.ForeignKeyRelation[Workspace] = fields.ForeignKeyField(
        "models.Workspace", related_name="segments", on_delete=fields.CASCADE
    )
    key = fields.CharField(max_length=64)
    name = fields.CharField(max_length=200)
    description = fields.CharField(max_length=1000, default="", db_default="")
    definition: fields.Field[dict[str, Any]] = fields.JSONField(default=dict)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "segment"
        unique_together = (("workspace", "key"),)
