from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='Workspace',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(max_length=200)),
                ('currency', fields.CharField(default='BRL', max_length=3)),
                ('timezone', fields.CharField(default='UTC', max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'workspace', 'app': 'models', 'pk_attr': 'id', 'table_description': 'One business. Every other row belongs to exactly one workspace.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='AcquisitionSpend',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('workspace', fields.ForeignKeyField('models.Workspace', source_field='workspace_id', db_constraint=True, to_field='id', related_name='acquisition_spend', on_delete=OnDelete.CASCADE)),
                ('channel', fields.CharField(null=True, max_length=100)),
                ('period_start', fields.DateField()),
                ('period_end', fields.DateField()),
                ('amount', fields.DecimalField(max_digits=18, decimal_places=4)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'acquisition_spend', 'app': 'models', 'indexes': [Index(fields=['workspace_id', 'period_start'], name='spend_ws_period')], 'pk_attr': 'id', 'table_description': 'Money spent acquiring customers over a period, optionally per channel (for CAC).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ApiKey',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('workspace', fields.ForeignKeyField('models.Workspace', source_field='workspace_id', db_constraint=True, to_field='id', related_name='api_keys', on_delete=OnDelete.CASCADE)),
                ('name', fields.CharField(max_length=200)),
                ('role', fields.CharField(max_length=10)),
                ('prefix', fields.CharField(max_length=16)),
                ('key_hash', fields.CharField(unique=True, max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'api_key', 'app': 'models', 'pk_attr': 'id', 'table_description': 'An API key. Only the SHA-256 of the secret is kept.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Customer',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('workspace', fields.ForeignKeyField('models.Workspace', source_field='workspace_id', db_constraint=True, to_field='id', related_name='customers', on_delete=OnDelete.CASCADE)),
                ('external_id', fields.CharField(null=True, max_length=200)),
                ('name', fields.CharField(null=True, max_length=300)),
                ('sort_name', fields.CharField(default='', db_default='', max_length=300)),
                ('search_text', fields.TextField(default='', db_default='', unique=False)),
                ('email', fields.CharField(null=True, max_length=320)),
                ('phone', fields.CharField(null=True, max_length=32)),
                ('company', fields.CharField(null=True, max_length=300)),
                ('job_title', fields.CharField(null=True, max_length=200)),
                ('industry', fields.CharField(null=True, max_length=200)),
                ('address', fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('social_profiles', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('tags', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('attributes', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('acquisition_channel', fields.CharField(null=True, max_length=100)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'customer', 'app': 'models', 'unique_together': (('workspace', 'external_id'),), 'indexes': [Index(fields=['workspace_id', 'created_at', 'id'], name='customer_ws_created'), Index(fields=['workspace_id', 'updated_at', 'id'], name='customer_ws_updated'), Index(fields=['workspace_id', 'sort_name', 'id'], name='customer_ws_name'), Index(fields=['workspace_id', 'email'], name='customer_ws_email'), Index(fields=['workspace_id', 'acquisition_channel'], name='customer_ws_channel')], 'pk_attr': 'id', 'table_description': 'A person or company that a workspace does business with.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='CustomerTag',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('workspace', fields.ForeignKeyField('models.Workspace', source_field='workspace_id', db_constraint=True, to_field='id', related_name='customer_tags', on_delete=OnDelete.CASCADE)),
                ('customer', fields.ForeignKeyField('models.Customer', source_field='customer_id', db_constraint=True, to_field='id', related_name='tag_rows', on_delete=OnDelete.CASCADE)),
                ('tag', fields.CharField(max_length=100)),
            ],
            options={'table': 'customer_tag', 'app': 'models', 'unique_together': (('customer', 'tag'),), 'indexes': [Index(fields=['workspace_id', 'tag'], name='customer_tag_ws_tag')], 'pk_attr': 'id', 'table_description': 'One tag of one customer, in a table of its own so that tag filters use an index.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Interaction',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('workspace', fields.ForeignKeyField('models.Workspace', source_field='workspace_id', db_constraint=True, to_field='id', related_name='interactions', on_delete=OnDelete.CASCADE)),
                ('customer', fields.ForeignKeyField('models.Customer', source_field='customer_id', db_constraint=True, to_field='id', related_name='interactions', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharField(max_length=64)),
                ('channel', fields.CharField(null=True, max_length=100)),
                ('occurred_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('amount', fields.DecimalField(null=True, max_digits=18, decimal_places=4)),
                ('score', fields.IntField(null=True)),
                ('properties', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('idempotency_key', fields.CharField(null=True, max_length=200)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'interaction', 'app': 'models', 'unique_together': (('workspace', 'idempotency_key'),), 'indexes': [Index(fields=['customer_id', 'occurred_at', 'id'], name='interaction_customer_time'), Index(fields=['workspace_id', 'occurred_at', 'id'], name='interaction_ws_time'), Index(fields=['workspace_id', 'kind', 'occurred_at'], name='interaction_ws_kind')], 'pk_attr': 'id', 'table_description': 'Something that happened with a customer. Append-only, idempotent by key.'},
            bases=['Model'],
        ),
    ]
