"""A value model says how far to trust it: OK, DEGENERATE or FAILED, and why."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0004_superseded')]

    initial = False

    operations = [
        ops.AddField(
            model_name='ValueModel',
            name='status',
            field=fields.CharField(default='OK', db_default='OK', max_length=16),
        ),
        ops.AddField(
            model_name='ValueModel',
            name='reasons',
            field=fields.JSONField(null=True),
        ),
        # Fits stored before: one with an error had failed.
        ops.RunSQL("UPDATE value_model SET status = 'FAILED' WHERE error IS NOT NULL", reverse_sql="SELECT 1"),
    ]
