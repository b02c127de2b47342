from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from roadmap.connectors import tracker_for
from roadmap.connectors.base import status_mapping_valid
from roadmap.models import BacklogItem, BacklogSource, BacklogSyncRun, Escalation, EscalationChange, ThemeLink
from tickets.connectors.base import ConfigurationError, ConnectorError
from tickets.crypto import SecretsUnreadable, secrets_decrypt, secrets_encrypt


@admin.register(BacklogItem)
class BacklogItemAdmin(admin.ModelAdmin):
    list_display = ["title", "kind", "status", "owner", "external_key", "updated_at"]
    list_filter = ["status", "kind", "backlog_source"]
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


class BacklogSourceForm(forms.ModelForm):
    """The tracker's one secret (token or API key) typed in here, stored encrypted, never shown again."""

    secret = forms.CharField(
        required=False, widget=forms.PasswordInput, label="Token or API key",
        help_text="GitHub access token, Jira API token or Linear API key. Leave empty to keep the stored one.",
    )

    class Meta:
        model = BacklogSource
        fields = ["name", "kind", "settings", "status_mapping", "sync_interval_minutes", "enabled"]

    def clean_status_mapping(self) -> dict[str, str]:
        try:
            return status_mapping_valid(self.cleaned_data.get("status_mapping") or {})
        except ConfigurationError as exc:
            raise forms.ValidationError(str(exc)) from None

    def save(self, commit: bool = True) -> BacklogSource:
        source = super().save(commit=False)
        secret = self.cleaned_data.get("secret")
        if secret:
            (key,) = tracker_for(source.kind).secret_keys
            stored = secrets_decrypt(source.credentials_encrypted) if source.credentials_encrypted else {}
            source.credentials_encrypted = secrets_encrypt({**stored, key: secret})
        if commit:
            source.save()
        return source


@admin.register(BacklogSource)
class BacklogSourceAdmin(admin.ModelAdmin):
    form = BacklogSourceForm
    list_display = ["name", "kind", "enabled", "sync_interval_minutes", "created_at"]
    readonly_fields = ["cursor"]
    actions = ["test_connection", "sync_now"]

    @admin.action(description="Test the connection")
    def test_connection(self, request: HttpRequest, queryset: QuerySet[BacklogSource]) -> None:
        from roadmap.sync import backlog_source_test_connection

        for source in queryset:
            try:
                self.message_user(request, f"{source.name}: {backlog_source_test_connection(backlog_source=source)}")
            except (ConnectorError, SecretsUnreadable) as exc:
                self.message_user(request, f"{source.name}: {exc}", messages.ERROR)

    @admin.action(description="Sync now (in the background)")
    def sync_now(self, request: HttpRequest, queryset: QuerySet[BacklogSource]) -> None:
        from config.dispatch import task_dispatch
        from roadmap.tasks import sync_backlog_source

        for source in queryset.filter(enabled=True):
            task_dispatch(sync_backlog_source, source.pk, trigger="manual")
            self.message_user(request, f"{source.name}: sync queued; its run appears under Backlog sync runs.")


@admin.register(BacklogSyncRun)
class BacklogSyncRunAdmin(admin.ModelAdmin):
    list_display = ["id", "source", "trigger", "status", "fetched", "created", "updated", "unchanged", "started_at"]
    list_filter = ["status", "source"]
    readonly_fields = [f.name for f in BacklogSyncRun._meta.fields]
