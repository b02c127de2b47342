"""The ticket filters, shared by the Tickets page and ``GET /api/tickets/`` so both answer alike."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from django import forms
from django.apps import apps
from django.db import connections
from django.db.models import Exists, OuterRef, Q, QuerySet, TextField
from django.db.models.functions import Cast
from django_filters import rest_framework as filters
from django_filters.fields import IsoDateTimeField
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from tickets.models import Channel, Organization, Source, Ticket, TicketStatus


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


# The largest id PostgreSQL's bigint holds: a larger one is refused as invalid input instead of
# overflowing the database driver.
MAX_ID = 2**63 - 1


class UTCIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 time as UTC. PostgreSQL refuses UTC offsets past ±15:59 that Python accepts."""

    def to_python(self, value: Any) -> datetime | None:
        parsed = super().to_python(value)
        if parsed is None:
            return None
        try:
            return parsed.astimezone(UTC)
        except OverflowError:
            raise forms.ValidationError("this time is out of range", code="invalid") from None


class UTCIsoDateTimeFilter(filters.IsoDateTimeFilter):
    field_class = UTCIsoDateTimeField


class TicketFilter(filters.FilterSet):
    q = filters.CharFilter(method="filter_text", label="Search subject")
    source = extend_schema_field(OpenApiTypes.STR)(
        SourceFilter(queryset=Source.objects.all(), help_text="Source id or name", empty_label="Any source")
    )
    channel = filters.ChoiceFilter(choices=Channel.choices, empty_label="Any channel")
    status = filters.ChoiceFilter(choices=TicketStatus.choices, empty_label="Any status")
    organization = filters.NumberFilter(field_name="organization_id", min_value=1, max_value=MAX_ID)
    requester_email = filters.CharFilter(method="filter_requester_email")
    created_after = UTCIsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UTCIsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    tag = filters.CharFilter(method="filter_tag", help_text="Tickets carrying this source tag")
    plan = filters.CharFilter(field_name="organization__plan", help_text="Plan of the ticket's organization")
    theme = filters.NumberFilter(
        method="filter_theme", min_value=1, max_value=MAX_ID, help_text="Tickets in this theme (id)"
    )
    unthemed = filters.BooleanFilter(
        method="filter_unthemed", help_text="Tickets in no theme (true) or in one; tickets that ask nothing are neither"
    )
    no_request = filters.BooleanFilter(
        method="filter_no_request",
        help_text="Tickets in which the customer asked nothing (true: greetings, thanks, auto-replies) or the rest",
    )

    class Meta:
        model = Ticket
        fields = ["q", "source", "channel", "status", "organization", "requester_email"]

    # Filters the dashboards link with and the Tickets page has no field for: carried along as
    # hidden inputs when someone refines the list, and shown in words above it.
    CARRIED = ("theme", "unthemed", "no_request", "plan", "organization", "created_after", "created_before")

    @property
    def carried(self) -> list[tuple[str, str]]:
        return [(name, str(self.data[name])) for name in self.CARRIED if self.data.get(name)]

    @property
    def summary(self) -> str:
        """The carried filters in words ("Theme: Card declined · Plan: pro · From 2026-03-01"), or ""."""
        if not self.is_valid():
            return ""
        data = self.form.cleaned_data
        parts = []
        if data.get("theme"):
            themes = apps.get_model("insights", "Theme").objects
            theme = themes.filter(pk=data["theme"]).values_list("name", flat=True).first()
            parts.append(f"Theme: {theme or data['theme']}")
        if data.get("unthemed") is not None:
            parts.append("In no theme" if data["unthemed"] else "In a theme")
        if data.get("no_request") is not None:
            parts.append("No request" if data["no_request"] else "Asking something")
        if data.get("plan"):
            parts.append(f"Plan: {data['plan']}")
        if data.get("organization"):
            organization = Organization.objects.filter(pk=data["organization"]).values_list("name", flat=True).first()
            parts.append(f"Organization: {organization or data['organization']}")
        if data.get("created_after"):
            parts.append(f"From {data['created_after']:%b %-d, %Y}")
        if data.get("created_before"):
            parts.append(f"before {data['created_before']:%b %-d, %Y}")
        return " · ".join(parts)

    def filter_theme(self, queryset: QuerySet[Ticket], name: str, value: Any) -> QuerySet[Ticket]:
        # EXISTS rather than a join: a ticket in the theme is listed once, whatever else it is in.
        return queryset.filter(Exists(_ticket_themes().filter(ticket_id=OuterRef("pk"), theme_id=int(value))))

    def filter_unthemed(self, queryset: QuerySet[Ticket], name: str, value: bool | None) -> QuerySet[Ticket]:
        if value is None:
            return queryset
        themed = Exists(_ticket_themes().filter(ticket_id=OuterRef("pk")))
        # A ticket that asks nothing is left out of themes on purpose: it is not "unthemed".
        return queryset.filter(~themed & ~_no_request()) if value else queryset.filter(themed)

    def filter_no_request(self, queryset: QuerySet[Ticket], name: str, value: bool | None) -> QuerySet[Ticket]:
        if value is None:
            return queryset
        return queryset.filter(_no_request() if value else ~_no_request())

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


def _no_request() -> Exists:
    analyses = apps.get_model("insights", "TicketAnalysis").objects
    return Exists(analyses.filter(ticket_id=OuterRef("pk"), no_request=True))


def _ticket_themes() -> QuerySet[Any]:
    # insights depends on tickets, not the reverse: its models are looked up when a filter runs.
    return apps.get_model("insights", "TicketTheme").objects.all()
