"""The ticket filters, shared by the Tickets page and ``GET /api/tickets/`` so both answer alike."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django_filters import rest_framework as filters

from tickets.models import Channel, Source, Ticket, TicketStatus


class TicketFilter(filters.FilterSet):
    q = filters.CharFilter(method="filter_text", label="Search subject")
    source = filters.ModelChoiceFilter(queryset=Source.objects.all())
    channel = filters.ChoiceFilter(choices=Channel.choices)
    status = filters.ChoiceFilter(choices=TicketStatus.choices)
    organization = filters.NumberFilter(field_name="organization_id")
    requester_email = filters.CharFilter(field_name="requester__email", lookup_expr="iexact")
    created_after = filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Ticket
        fields = ["q", "source", "channel", "status", "organization", "requester_email"]

    def filter_text(self, queryset: QuerySet[Ticket], name: str, value: str) -> QuerySet[Ticket]:
        return queryset.filter(Q(subject__icontains=value) | Q(external_id=value))
