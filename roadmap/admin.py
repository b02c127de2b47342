from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from roadmap.models import BacklogItem, Escalation, EscalationChange, ThemeLink


@admin.register(BacklogItem)
class BacklogItemAdmin(admin.ModelAdmin):
    list_display = ["title", "kind", "status", "owner", "external_key", "updated_at"]
    list_filter = ["status", "kind"]
    search_fields = ["title", "external_key"]


@admin.register(ThemeLink)
class ThemeLinkAdmin(admin.ModelAdmin):
    list_display = ["theme", "item", "linked_by", "created_at"]
    raw_id_fields = ["theme", "item"]


class EscalationChangeInline(admin.TabularInline):
    model = EscalationChange
    extra = 0
    # The audit trail is written by roadmap.services only.
    readonly_fields = ["at", "user", "action", "before", "after", "note"]
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Escalation)
class EscalationAdmin(admin.ModelAdmin):
    list_display = ["id", "severity", "status", "ticket", "theme", "raised_by", "backlog_item", "created_at"]
    list_filter = ["status", "severity"]
    raw_id_fields = ["ticket", "theme", "backlog_item"]
    inlines = [EscalationChangeInline]
