from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from users.models import User


@admin.register(User)
class PlayerAdmin(UserAdmin):
    list_display = ("username", "email", "date_joined", "is_staff")
    search_fields = ("username__startswith", "email")
    show_full_result_count = False
