"""The ready Moderators group: a studio adds a moderator by putting a staff user in it."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUP = "Moderators"
# Moderation only: never add, change or delete on users, keys, boards, groups or permissions.
PERMISSIONS = [
    ("users", "view_user"),
    ("users", "moderate_player"),
    ("leaderboard", "view_gamesession"),
    ("leaderboard", "moderate_session"),
    ("leaderboard", "view_leaderboardentry"),
    ("leaderboard", "view_moderationlog"),
]


def create_moderators_group(apps, schema_editor):
    # Permissions are normally created after all migrations (post_migrate): create them now.
    for label in ("users", "leaderboard"):
        app_config = apps.get_app_config(label)
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name=GROUP)
    for app_label, codename in PERMISSIONS:
        group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))


def delete_moderators_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("users", "0004_moderate_player_permission"),
        ("leaderboard", "0007_moderation_permissions"),
    ]

    operations = [migrations.RunPython(create_moderators_group, delete_moderators_group)]
