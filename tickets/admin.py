from __future__ import annotations

from django.contrib import admin

from tickets.models import Customer, IngestBatch, Message, Organization, Source, SyncRun, Ticket


@admin.register(Source)
class SourceAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "enabled", "sync_interval_minutes", "updated_at"]
    exclude = ["credentials_encrypted"]


@admin.register(SyncRun)
class SyncRunAdmin(admin.ModelAdmin):
    list_display = ["id", "source", "trigger", "status", "created", "updated", "unchanged", "rejected", "created_at"]
    list_filter = ["status", "trigger", "source"]


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["name", "source", "plan", "arr"]
    search_fields = ["name", "external_id"]


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ["name", "email", "organization", "source"]
    search_fields = ["name", "email", "external_id"]
    raw_id_fields = ["organization"]


class MessageInline(admin.TabularInline):
    model = Message
    extra = 0


@admin.register(Ticket)
class TicketAdmin(admin.ModelAdmin):
    list_display = ["external_id", "subject", "source", "channel", "status", "created_at"]
    list_filter = ["source", "channel", "status"]
    search_fields = ["external_id", "subject"]
    raw_id_fields = ["requester", "organization"]
    inlines = [MessageInline]


@admin.register(IngestBatch)
class IngestBatchAdmin(admin.ModelAdmin):
    list_display = ["id", "source", "status", "processed_count", "created_at", "processed_at"]
