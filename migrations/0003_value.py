from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0002_lifecycle')]

    initial = False

    operations = [
        ops.CreateModel(
            name='CustomerValue',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('workspace', fields.ForeignKeyField('models.Workspace', source_field='workspace_id', db_constraint=True, to_field='id', related_name='customer_values', on_delete=OnDelete.CASCADE)),
                ('customer', fields.OneToOneField('models.Customer', source_field='customer_id', db_constraint=True, to_field='id', related_name='value', on_delete=OnDelete.CASCADE)),
                ('frequency', fields.IntField()),
                ('recency_weeks', fields.FloatField()),
                ('age_weeks', fields.FloatField()),
                ('monetary', fields.FloatField()),
                ('p_alive', fields.FloatField(null=True)),
                ('expected_purchases', fields.FloatField(null=True)),
                ('expected_spend', fields.FloatField(null=True)),
                ('predicted_clv', fields.FloatField(null=True)),
                ('computed_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'customer_value', 'app': 'models', 'indexes': [Index(fields=['workspace_id', 'predicted_clv'], name='customer_value_ws_clv'), Index(fields=['workspace_id', 'p_alive'], name='customer_value_ws_alive')], 'pk_attr': 'id', 'table_description': "One customer's purchase summary and predictions from the workspace's value model."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ValueModel',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('workspace', fields.OneToOneField('models.Workspace', source_field='workspace_id', db_constraint=True, to_field='id', related_name='value_model', on_delete=OnDelete.CASCADE)),
                ('calibration_end', fields.DateField()),
                ('horizon_weeks', fields.IntField()),
                ('annual_discount_rate', fields.FloatField()),
                ('params', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('customers', fields.IntField()),
                ('repeat_customers', fields.IntField()),
                ('error', fields.TextField(null=True, unique=False)),
                ('fitted_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'value_model', 'app': 'models', 'pk_attr': 'id', 'table_description': "A workspace's fitted BG/NBD and Gamma-Gamma models and the settings of its CLV figures."},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Workspace',
            name='gross_margin',
            field=fields.DecimalField(default=1, db_default=1, max_digits=5, decimal_places=4),
        ),
    ]
