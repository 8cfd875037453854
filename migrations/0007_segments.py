from tortoise import migrations
from tortoise.migrations import operations as ops
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0006_webhooks')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Segment',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('workspace', fields.ForeignKeyField('models.Workspace', source_field='workspace_id', db_constraint=True, to_field='id', related_name='segments', on_delete=OnDelete.CASCADE)),
                ('key', fields.CharField(max_length=64)),
                ('name', fields.CharField(max_length=200)),
                ('description', fields.CharField(default='', db_default='', max_length=1000)),
                ('definition', fields.JSONField(default=dict, encoder=JSON_DUMPS, decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'segment', 'app': 'models', 'unique_together': (('workspace', 'key'),), 'pk_attr': 'id', 'table_description': "A saved customer filter with a key of the workspace's choosing (`vip`), usable wherever a"},
            bases=['Model'],
        ),
    ]
