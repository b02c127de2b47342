"""The ticket filters, shared by the Tickets page and ``GET /api/tickets/`` so both answer alike."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.db import connections
from django.db.models import Q, QuerySet, TextField
from django.db.models.functions import Cast
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from tickets.models import Channel, Source, Ticket, TicketStatus


class SourceIdOrNameField(forms.ModelChoiceField):
    """A source by id (what the page's select sends) or by name (what API callers know)."""

    def to_python(self, value: Any) -> Source | None:
        if value in self.empty_values:
            return None
        # An id first; a source may also be named with digits only, so a name is tried next.
        lookups = [{"pk": value}, {"name": value}] if str(value).isdigit() else [{"name": value}]
        for lookup in lookups:
            found = self.queryset.filter(**lookup).first()  # type: ignore[union-attr]
            if found is not None:
                return found
        raise forms.ValidationError(f"there is no source {str(value)[:100]!r}", code="invalid_choice")


class SourceFilter(filters.ModelChoiceFilter):
    field_class = SourceIdOrNameField


class TicketFilter(filters.FilterSet):
    q = filters.CharFilter(method="filter_text", label="Search subject")
    source = extend_schema_field(OpenApiTypes.STR)(
        SourceFilter(queryset=Source.objects.all(), help_text="Source id or name", empty_label="Any source")
    )
    channel = filters.ChoiceFilter(choices=Channel.choices, empty_label="Any channel")
    status = filters.ChoiceFilter(choices=TicketStatus.choices, empty_label="Any status")
    organization = filters.NumberFilter(field_name="organization_id")
    requester_email = filters.CharFilter(method="filter_requester_email")
    created_after = filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    tag = filters.CharFilter(method="filter_tag", help_text="Tickets carrying this source tag")

    class Meta:
        model = Ticket
        fields = ["q", "source", "channel", "status", "organization", "requester_email"]

    def filter_text(self, queryset: QuerySet[Ticket], name: str, value: str) -> QuerySet[Ticket]:
        return queryset.filter(Q(subject__icontains=value) | Q(external_id=value))

    def filter_requester_email(self, queryset: QuerySet[Ticket], name: str, value: str) -> QuerySet[Ticket]:
        # Emails are stored lower-cased (tickets.records), so an exact match can use the index.
        return queryset.filter(requester__email=value.strip().lower())

    def filter_tag(self, queryset: QuerySet[Ticket], name: str, value: str) -> QuerySet[Ticket]:
        if connections[queryset.db].features.supports_json_field_contains:
            return queryset.filter(tags__contains=[value])
        # SQLite (the embedded run) has no JSON containment: match the tag's JSON string, quotes
        # included, inside the stored array text, so "bill" does not match "billing". Its LIKE
        # ignores ASCII case, which only ever widens the match.
        return queryset.annotate(tags_text=Cast("tags", TextField())).filter(
            tags_text__contains=json.dumps(value)
        )
