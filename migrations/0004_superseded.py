"""Superseded moves keep when and why they were superseded; corrections are flagged."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0003_value')]

    initial = False

    operations = [
        ops.AddField(
            model_name='StageTransition',
            name='correction',
            field=fields.BooleanField(default=False, db_default=False),
        ),
        ops.AddField(
            model_name='StageTransition',
            name='superseded_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='StageTransition',
            name='superseded_reason',
            field=fields.TextField(null=True, unique=False),
        ),
        # Moves archived by earlier rebuilds say when and why too.
        ops.RunSQL(
            "UPDATE stage_transition SET superseded_at = created_at, "
            "superseded_reason = 'the model was rebuilt by replay' WHERE archived",
            reverse_sql="SELECT 1",
        ),
    ]
