from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

async def track_funnel_everywhere(apps, schema_editor):
    """Workspaces created before lifecycle models existed track the default model, `funnel`."""
    Workspace = apps.get_model("models", "Workspace")
    WorkspaceModel = apps.get_model("models", "WorkspaceModel")
    for ws in await Workspace.all().using_db(schema_editor.client):
        await WorkspaceModel.create(
            workspace_id=ws.id, model_key="funnel", is_primary=True, tracked=True, params={},
            enabled_at=ws.created_at, using_db=schema_editor.client,
        )


async def untrack_all(apps, schema_editor):
    WorkspaceModel = apps.get_model("models", "WorkspaceModel")
    await WorkspaceModel.all().using_db(schema_editor.client).delete()


class Migration(migrations.Migration):
    dependencies = [('models', '0001_initial')]

    initial = False

    operations = [
        ops.CreateModel(
            name='CustomerFactsRow',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('workspace', fields.ForeignKeyField('models.Workspace', source_field='workspace_id', db_constraint=True, to_field='id', related_name='customer_facts', on_delete=OnDelete.CASCADE)),
                ('customer', fields.OneToOneField('models.Customer', source_field='customer_id', db_constraint=True, to_field='id', related_name='facts', on_delete=OnDelete.CASCADE)),
                ('data', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'customer_facts', 'app': 'models', 'pk_attr': 'id', 'table_description': 'The running facts of one customer, folded one interaction at a time (see plugins.facts).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='StageAssignment',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('workspace', fields.ForeignKeyField('models.Workspace', source_field='workspace_id', db_constraint=True, to_field='id', related_name='assignments', on_delete=OnDelete.CASCADE)),
                ('customer', fields.ForeignKeyField('models.Customer', source_field='customer_id', db_constraint=True, to_field='id', related_name='assignments', on_delete=OnDelete.CASCADE)),
                ('model_key', fields.CharField(max_length=100)),
                ('stage', fields.CharField(max_length=100)),
                ('entered_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('next_check_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'stage_assignment', 'app': 'models', 'unique_together': (('customer', 'model_key'),), 'indexes': [Index(fields=['workspace_id', 'model_key', 'stage'], name='assignment_ws_model_stage'), Index(fields=['next_check_at'], name='assignment_due')], 'pk_attr': 'id', 'table_description': 'Where a customer stands in one model now, since when, and when it next needs a look.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='StageTransition',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('workspace', fields.ForeignKeyField('models.Workspace', source_field='workspace_id', db_constraint=True, to_field='id', related_name='transitions', on_delete=OnDelete.CASCADE)),
                ('customer', fields.ForeignKeyField('models.Customer', source_field='customer_id', db_constraint=True, to_field='id', related_name='transitions', on_delete=OnDelete.CASCADE)),
                ('model_key', fields.CharField(max_length=100)),
                ('model_version', fields.CharField(max_length=50)),
                ('from_stage', fields.CharField(null=True, max_length=100)),
                ('to_stage', fields.CharField(max_length=100)),
                ('occurred_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('cause', fields.CharField(max_length=10)),
                ('rule', fields.CharField(null=True, max_length=100)),
                ('interaction_id', fields.IntField(null=True)),
                ('actor', fields.CharField(null=True, max_length=200)),
                ('note', fields.TextField(null=True, unique=False)),
                ('archived', fields.BooleanField(default=False, db_default=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'stage_transition', 'app': 'models', 'indexes': [Index(fields=['workspace_id', 'model_key', 'occurred_at'], name='transition_ws_model_time'), Index(fields=['customer_id', 'model_key', 'occurred_at', 'id'], name='transition_customer')], 'pk_attr': 'id', 'table_description': 'One recorded move of a customer in a model, with its cause. Never rewritten.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='WorkspaceModel',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('workspace', fields.ForeignKeyField('models.Workspace', source_field='workspace_id', db_constraint=True, to_field='id', related_name='models', on_delete=OnDelete.CASCADE)),
                ('model_key', fields.CharField(max_length=100)),
                ('is_primary', fields.BooleanField(default=False, db_default=False)),
                ('tracked', fields.BooleanField(default=True, db_default=True)),
                ('params', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('enabled_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'workspace_model', 'app': 'models', 'unique_together': (('workspace', 'model_key'),), 'pk_attr': 'id', 'table_description': 'A lifecycle model a workspace tracks (or tracked), with its parameter overrides.'},
            bases=['Model'],
        ),
        ops.RunPython(track_funnel_everywhere, untrack_all),
    ]
