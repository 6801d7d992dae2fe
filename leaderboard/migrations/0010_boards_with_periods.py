
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('leaderboard', '0009_rank_index_debt'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='board',
            name='aggregation',
            field=models.CharField(choices=[('sum', 'Sum of session scores'), ('best', 'Best single session'), ('latest', 'Latest session')], db_default='sum', default='sum', max_length=8),
        ),
        migrations.AddField(
            model_name='board',
            name='order',
            field=models.CharField(choices=[('higher', 'Higher is better'), ('lower', 'Lower is better')], db_default='higher', default='higher', max_length=8),
        ),
        migrations.AddField(
            model_name='board',
            name='time_zone',
            field=models.CharField(db_default='UTC', default='UTC', max_length=64),
        ),
        migrations.AddField(
            model_name='board',
            name='week_start',
            field=models.PositiveSmallIntegerField(choices=[(0, 'Monday'), (1, 'Tuesday'), (2, 'Wednesday'), (3, 'Thursday'), (4, 'Friday'), (5, 'Saturday'), (6, 'Sunday')], db_default=0, default=0),
        ),
        migrations.AddField(
            model_name='board',
            name='window',
            field=models.CharField(choices=[('all_time', 'All time'), ('daily', 'Daily'), ('weekly', 'Weekly'), ('monthly', 'Monthly')], db_default='all_time', default='all_time', max_length=8),
        ),
        migrations.AddField(
            model_name='leaderboardentry',
            name='period',
            field=models.CharField(db_default='all', default='all', max_length=10),
        ),
        migrations.AddField(
            model_name='leaderboardentry',
            name='rank_value',
            field=models.BigIntegerField(default=0),
        ),
        migrations.AddField(
            model_name='leaderboardentry',
            name='value_session_id',
            field=models.BigIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='rankindexdebt',
            name='period',
            field=models.CharField(db_default='all', default='all', max_length=10),
        ),
        # Every existing board is all-time, sum, higher is better: the rank value is the total.
        migrations.RunSQL("UPDATE leaderboard SET rank_value = total_score", migrations.RunSQL.noop),
        migrations.RemoveConstraint(
            model_name='leaderboardentry',
            name='entry_one_per_board_and_player',
        ),
        migrations.RemoveIndex(
            model_name='leaderboardentry',
            name='entry_board_listing_order',
        ),
        migrations.AddIndex(
            model_name='leaderboardentry',
            index=models.Index(models.F('board'), models.F('period'), models.OrderBy(models.F('rank_value'), descending=True), models.F('last_updated'), models.F('user'), name='entry_listing_order'),
        ),
        migrations.AddConstraint(
            model_name='board',
            constraint=models.CheckConstraint(condition=models.Q(('week_start__lte', 6)), name='board_week_start_is_a_weekday'),
        ),
        migrations.AddConstraint(
            model_name='leaderboardentry',
            constraint=models.UniqueConstraint(fields=('board', 'period', 'user'), name='entry_one_per_board_period_and_player'),
        ),
    ]
