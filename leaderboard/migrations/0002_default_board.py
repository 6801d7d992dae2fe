from django.db import migrations


def create_default_board(apps, schema_editor):
    Board = apps.get_model("leaderboard", "Board")
    Board.objects.get_or_create(slug="global", defaults={"name": "All time"})


class Migration(migrations.Migration):
    dependencies = [("leaderboard", "0001_initial")]

    operations = [migrations.RunPython(create_default_board, migrations.RunPython.noop)]
