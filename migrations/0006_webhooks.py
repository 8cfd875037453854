from tortoise import migrations
from tortoise.migrations import operations as ops
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0005_fit_status')]

    initial = False

    operations = [
        ops.CreateModel(
            name='WebhookEndpoint',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('workspace', fields.ForeignKeyField('models.Workspace', source_field='workspace_id', db_constraint=True, to_field='id', related_name='webhook_endpoints', on_delete=OnDelete.CASCADE)),
                ('url', fields.CharField(max_length=2000)),
                ('description', fields.CharField(default='', db_default='', max_length=500)),
                ('events', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('secret', fields.CharField(max_length=100)),
                ('previous_secret', fields.CharField(null=True, max_length=100)),
                ('previous_secret_expires_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('enabled', fields.BooleanField(default=True, db_default=True)),
                ('disabled_reason', fields.TextField(null=True, unique=False)),
                ('disabled_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('failing_since', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'webhook_endpoint', 'app': 'models', 'indexes': [Index(fields=['workspace_id', 'enabled'], name='webhook_endpoint_ws')], 'pk_attr': 'id', 'table_description': "A URL of the business's that receives the workspace's events, signed with its secret"},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='WebhookDelivery',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('workspace', fields.ForeignKeyField('models.Workspace', source_field='workspace_id', db_constraint=True, to_field='id', related_name='webhook_deliveries', on_delete=OnDelete.CASCADE)),
                ('endpoint', fields.ForeignKeyField('models.WebhookEndpoint', source_field='endpoint_id', db_constraint=True, to_field='id', related_name='deliveries', on_delete=OnDelete.CASCADE)),
                ('message_id', fields.CharField(max_length=64)),
                ('event_type', fields.CharField(max_length=64)),
                ('payload', fields.TextField(unique=False)),
                ('status', fields.CharField(default='PENDING', db_default='PENDING', max_length=10)),
                ('attempts', fields.IntField(default=0, db_default=0)),
                ('next_attempt_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_attempt_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('response_status', fields.IntField(null=True)),
                ('last_error', fields.TextField(null=True, unique=False)),
                ('delivered_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'webhook_delivery', 'app': 'models', 'indexes': [Index(fields=['next_attempt_at'], name='webhook_delivery_due'), Index(fields=['endpoint_id', 'id'], name='webhook_delivery_endpoint')], 'pk_attr': 'id', 'table_description': 'The outbox: one event for one endpoint, written in the transaction of the change that'},
            bases=['Model'],
        ),
    ]
