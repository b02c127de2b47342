"""The roadmap API: backlog items, their theme links, their demand, and linking escalations.

Product managers (and admins) create and edit items and link themes; support leads link their
escalations to items; every role reads. Mounted under ``/api/`` by ``config/urls.py``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.http import Http404
from django.urls import path
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from insights.filters import MAX_PERIOD_DAYS
from insights.models import Theme
from insights.selectors import Period
from roadmap.access import access_backlog_edit, access_backlog_link, access_backlog_read, access_escalations_link
from roadmap.models import BacklogItem, BacklogItemKind, BacklogItemStatus, Escalation, ThemeLink
from roadmap.selectors import (
    Demand,
    backlog_demand,
    backlog_item_detail,
    backlog_item_links,
    backlog_item_quotes,
    backlog_item_themes,
)
from roadmap.services import (
    BacklogError,
    EscalationError,
    backlog_item_create,
    backlog_item_update,
    escalation_link,
    theme_link_create,
    theme_link_delete,
)
from tickets.access import api_access
from tickets.api.common import ErrorSerializer, ValidationErrorSerializer
from tickets.api.parsers import JSONBodyParser

_UNAUTHENTICATED = OpenApiResponse(ErrorSerializer, description="No or invalid credentials.")
_FORBIDDEN = OpenApiResponse(ErrorSerializer, description="The user's role does not allow this.")
_NOT_FOUND = OpenApiResponse(ErrorSerializer, description="No such backlog item.")
_INVALID = OpenApiResponse(ValidationErrorSerializer, description="Invalid input; `detail` or the field says why.")

_PERIOD_PARAMETERS = [
    OpenApiParameter("days", int, description="The last N days, today included (default 30, at most 366)."),
    OpenApiParameter("start", str, description="First day (YYYY-MM-DD) of a custom period; needs `end`."),
    OpenApiParameter("end", str, description="Last day (YYYY-MM-DD), included."),
]


def _by_method(**checks: Any) -> list[BasePermission]:
    """Permission objects for the request's method: ``get=access_x, post=access_y``."""

    class ByMethod(BasePermission):
        def has_permission(self, request: Any, view: Any) -> bool:
            check = checks.get(request.method.lower()) or checks.get("get" if request.method == "HEAD" else "")
            return check is not None and api_access(check)().has_permission(request, view)

    return [ByMethod()]


class PeriodSerializer(serializers.Serializer):
    days = serializers.IntegerField(required=False, min_value=1, max_value=MAX_PERIOD_DAYS)
    start = serializers.DateField(required=False)
    end = serializers.DateField(required=False)

    def period(self) -> Period:
        data = self.validated_data
        if data.get("start") and data.get("end"):
            start, end = sorted([data["start"], data["end"]])
            return Period(start=max(start, end - timedelta(days=MAX_PERIOD_DAYS - 1)), end=end)
        if data.get("start") or data.get("end"):
            raise ValidationError({"detail": "Give both start and end, or neither."})
        today = timezone.localdate()
        return Period(start=today - timedelta(days=data.get("days", 30) - 1), end=today)


def _period(request: Request) -> Period:
    serializer = PeriodSerializer(data=request.query_params)
    serializer.is_valid(raise_exception=True)
    return serializer.period()


class DemandSerializer(serializers.Serializer):
    tickets = serializers.IntegerField(help_text="Tickets of the linked themes (sub-themes included).")
    customers = serializers.IntegerField(help_text="Distinct customers among them: what ranks the board.")
    organizations = serializers.IntegerField()
    arr = serializers.DecimalField(max_digits=16, decimal_places=2, help_text="ARR of those organizations.")
    previous_tickets = serializers.IntegerField(help_text="Tickets in the period of the same length before.")
    previous_customers = serializers.IntegerField()
    customers_change = serializers.FloatField(allow_null=True, help_text="Relative change; null when new.")
    escalations = serializers.IntegerField(help_text="Escalations linked (open, acknowledged or resolved).")

    class Meta:
        ref_name = "Demand"


class BacklogItemSerializer(serializers.ModelSerializer):
    owner = serializers.EmailField(source="owner.email", allow_null=True, default=None, read_only=True)
    themes = serializers.SerializerMethodField(help_text="Ids of the linked themes.")

    class Meta:
        model = BacklogItem
        fields = ["id", "title", "description", "kind", "status", "owner", "target_date", "external_key",
                  "external_url", "shipped_at", "themes", "created_at", "updated_at"]
        ref_name = "BacklogItem"

    def get_themes(self, item: BacklogItem) -> list[int]:
        return sorted(link.theme_id for link in item.theme_links.all())


class BacklogItemWithDemandSerializer(BacklogItemSerializer):
    demand = DemandSerializer(source="_demand")

    class Meta(BacklogItemSerializer.Meta):
        fields = [*BacklogItemSerializer.Meta.fields, "demand"]
        ref_name = "BacklogItemWithDemand"


class BacklogItemInputSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=300)
    description = serializers.CharField(required=False, allow_blank=True, max_length=20000)
    kind = serializers.ChoiceField(choices=BacklogItemKind.choices, required=False)
    status = serializers.ChoiceField(choices=BacklogItemStatus.choices, required=False)
    owner = serializers.EmailField(required=False, allow_null=True, help_text="Email of a Threadline user.")
    target_date = serializers.DateField(required=False, allow_null=True)
    external_key = serializers.CharField(required=False, allow_blank=True, max_length=200)
    external_url = serializers.URLField(required=False, allow_blank=True, max_length=500)
    shipped_at = serializers.DateTimeField(required=False, allow_null=True,
                                           help_text="When status becomes shipped; now if absent.")
    themes = serializers.ListField(child=serializers.IntegerField(), required=False,
                                   help_text="Theme ids to link at once (create only).")

    class Meta:
        ref_name = "BacklogItemInput"

    def validate_owner(self, value: str | None) -> Any:
        if not value:
            return None
        from django.contrib.auth import get_user_model

        owner = get_user_model().objects.filter(email__iexact=value, is_active=True).first()
        if owner is None:
            raise ValidationError("No active user with this email.")
        return owner


def _item(item_id: int) -> BacklogItem:
    try:
        return backlog_item_detail(item_id=item_id)
    except BacklogItem.DoesNotExist:
        raise Http404 from None


def _bad(exc: Exception) -> Response:
    return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)


class BacklogItemListApi(APIView):
    parser_classes = [JSONBodyParser]

    def get_permissions(self) -> list[BasePermission]:
        return _by_method(get=access_backlog_read, post=access_backlog_edit)

    @extend_schema(
        operation_id="backlog_items_list", summary="List backlog items with their demand",
        description="Every item with its demand in the period, most distinct customers first.",
        parameters=[*_PERIOD_PARAMETERS, OpenApiParameter("status", str, enum=BacklogItemStatus.values)],
        responses={200: BacklogItemWithDemandSerializer(many=True), 400: _INVALID, 401: _UNAUTHENTICATED,
                   403: _FORBIDDEN},
    )
    def get(self, request: Request) -> Response:
        period = _period(request)
        items = BacklogItem.objects.select_related("owner").prefetch_related("theme_links").order_by("id")
        wanted = request.query_params.get("status")
        if wanted:
            if wanted not in BacklogItemStatus.values:
                raise ValidationError({"status": f"One of {', '.join(BacklogItemStatus.values)}."})
            items = items.filter(status=wanted)
        demand = backlog_demand(period=period)
        rows = list(items)
        for item in rows:
            item._demand = _demand_dict(demand.get(item.pk, Demand()))  # type: ignore[attr-defined]
        rows.sort(key=lambda item: (-item._demand["customers"], -item._demand["tickets"], item.pk))  # type: ignore[attr-defined]
        return Response(BacklogItemWithDemandSerializer(rows, many=True).data)

    @extend_schema(
        operation_id="backlog_items_create", summary="Create a backlog item",
        request=BacklogItemInputSerializer,
        responses={201: BacklogItemSerializer, 400: _INVALID, 401: _UNAUTHENTICATED, 403: _FORBIDDEN},
    )
    def post(self, request: Request) -> Response:
        serializer = BacklogItemInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        theme_ids = data.pop("themes", [])
        themes = list(Theme.objects.filter(pk__in=theme_ids))
        if len(themes) != len(set(theme_ids)):
            raise ValidationError({"themes": "Unknown theme id."})
        try:
            item = backlog_item_create(user=request.user, themes=themes, **data)
        except BacklogError as exc:
            return _bad(exc)
        return Response(BacklogItemSerializer(_item(item.pk)).data, status=status.HTTP_201_CREATED)


class BacklogItemDetailApi(APIView):
    parser_classes = [JSONBodyParser]

    def get_permissions(self) -> list[BasePermission]:
        return _by_method(get=access_backlog_read, patch=access_backlog_edit)

    @extend_schema(operation_id="backlog_items_retrieve", summary="One backlog item",
                   responses={200: BacklogItemSerializer, 401: _UNAUTHENTICATED, 403: _FORBIDDEN, 404: _NOT_FOUND})
    def get(self, request: Request, item_id: int) -> Response:
        return Response(BacklogItemSerializer(_item(item_id)).data)

    @extend_schema(
        operation_id="backlog_items_update", summary="Edit a backlog item or change its status",
        description="Only the fields sent change. Status `shipped` sets `shipped_at` (now unless given); "
                    "leaving `shipped` clears it.",
        request=BacklogItemInputSerializer(partial=True),
        responses={200: BacklogItemSerializer, 400: _INVALID, 401: _UNAUTHENTICATED, 403: _FORBIDDEN,
                   404: _NOT_FOUND},
    )
    def patch(self, request: Request, item_id: int) -> Response:
        item = _item(item_id)
        serializer = BacklogItemInputSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        if "themes" in data:
            raise ValidationError({"themes": "Link and unlink themes through /links/."})
        try:
            backlog_item_update(item=item, user=request.user, **data)
        except BacklogError as exc:
            return _bad(exc)
        return Response(BacklogItemSerializer(_item(item_id)).data)


def _demand_dict(demand: Demand) -> dict[str, Any]:
    return {"tickets": demand.tickets, "customers": demand.customers, "organizations": demand.organizations,
            "arr": demand.arr, "previous_tickets": demand.previous_tickets,
            "previous_customers": demand.previous_customers, "customers_change": demand.customers_change,
            "escalations": demand.escalations}


class ThemeDemandSerializer(serializers.Serializer):
    theme = serializers.IntegerField()
    name = serializers.CharField()
    sub_themes = serializers.IntegerField(help_text="Sub-themes counted with it.")
    tickets = serializers.IntegerField()
    customers = serializers.IntegerField()

    class Meta:
        ref_name = "ThemeDemand"


class QuoteSerializer(serializers.Serializer):
    ticket = serializers.IntegerField()
    text = serializers.CharField()

    class Meta:
        ref_name = "CustomerQuote"


class ItemDemandSerializer(serializers.Serializer):
    item = serializers.IntegerField()
    start = serializers.DateField()
    end = serializers.DateField()
    demand = DemandSerializer()
    themes = ThemeDemandSerializer(many=True)
    quotes = QuoteSerializer(many=True, help_text="Up to 3 representative customer quotes.")

    class Meta:
        ref_name = "ItemDemand"


class BacklogItemDemandApi(APIView):
    permission_classes = [api_access(access_backlog_read)]

    @extend_schema(
        operation_id="backlog_items_demand", summary="The demand behind one backlog item",
        description="Tickets, distinct customers and organizations, their ARR and the trend against the period "
                    "before; per linked theme; and a few customer quotes.",
        parameters=_PERIOD_PARAMETERS,
        responses={200: ItemDemandSerializer, 400: _INVALID, 401: _UNAUTHENTICATED, 403: _FORBIDDEN,
                   404: _NOT_FOUND},
    )
    def get(self, request: Request, item_id: int) -> Response:
        item = _item(item_id)
        period = _period(request)
        theme_ids = backlog_item_themes(item=item)
        demand = backlog_demand(period=period, item_ids=[item.pk]).get(item.pk, Demand())
        links = backlog_item_links(item=item, period=period)
        quotes = backlog_item_quotes(theme_ids=theme_ids, period=period) if theme_ids else []
        return Response(ItemDemandSerializer({
            "item": item.pk, "start": period.start, "end": period.end, "demand": _demand_dict(demand),
            "themes": [{"theme": row.link.theme_id, "name": row.link.theme.name, "sub_themes": row.sub_themes,
                        "tickets": row.demand.tickets, "customers": row.demand.customers} for row in links],
            "quotes": [{"ticket": quote.ticket.pk, "text": quote.text} for quote in quotes],
        }).data)


class ThemeLinkSerializer(serializers.ModelSerializer):
    linked_by = serializers.EmailField(source="linked_by.email", allow_null=True, default=None, read_only=True)

    class Meta:
        model = ThemeLink
        fields = ["id", "theme", "item", "note", "linked_by", "created_at"]
        ref_name = "ThemeLink"


class ThemeLinkCreateApi(APIView):
    permission_classes = [api_access(access_backlog_link)]
    parser_classes = [JSONBodyParser]

    class InputSerializer(serializers.Serializer):
        theme = serializers.IntegerField(help_text="Theme id; a broad area counts all its sub-themes.")
        note = serializers.CharField(required=False, allow_blank=True, max_length=2000, help_text="Why.")

        class Meta:
            ref_name = "ThemeLinkInput"

    @extend_schema(operation_id="backlog_items_links_create", summary="Link a theme to a backlog item",
                   request=InputSerializer,
                   responses={201: ThemeLinkSerializer, 400: _INVALID, 401: _UNAUTHENTICATED, 403: _FORBIDDEN,
                              404: _NOT_FOUND})
    def post(self, request: Request, item_id: int) -> Response:
        item = _item(item_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        theme = Theme.objects.filter(pk=serializer.validated_data["theme"]).first()
        if theme is None:
            raise ValidationError({"theme": "Unknown theme id."})
        try:
            link = theme_link_create(item=item, theme=theme, user=request.user,
                                     note=serializer.validated_data.get("note", ""))
        except BacklogError as exc:
            return _bad(exc)
        return Response(ThemeLinkSerializer(link).data, status=status.HTTP_201_CREATED)


class ThemeLinkDeleteApi(APIView):
    permission_classes = [api_access(access_backlog_link)]

    @extend_schema(operation_id="backlog_items_links_delete", summary="Unlink a theme from a backlog item",
                   request=None,
                   responses={204: None, 401: _UNAUTHENTICATED, 403: _FORBIDDEN,
                              404: OpenApiResponse(ErrorSerializer, description="The theme is not linked.")})
    def delete(self, request: Request, item_id: int, theme_id: int) -> Response:
        # Each id through its own primary key: an id past the database's integer range is then simply
        # not found, where a filter on the foreign key columns would overflow the driver.
        item, theme = _item(item_id), Theme.objects.filter(pk=theme_id).first()
        link = ThemeLink.objects.select_related("item", "theme").filter(item=item, theme=theme).first()
        if link is None:
            raise Http404
        theme_link_delete(link=link, user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class EscalationLinkApi(APIView):
    permission_classes = [api_access(access_escalations_link)]
    parser_classes = [JSONBodyParser]

    class InputSerializer(serializers.Serializer):
        item = serializers.IntegerField(allow_null=True, help_text="Backlog item id; null unlinks.")
        note = serializers.CharField(required=False, allow_blank=True, max_length=2000)

        class Meta:
            ref_name = "EscalationLinkInput"

    class OutputSerializer(serializers.ModelSerializer):
        class Meta:
            model = Escalation
            fields = ["id", "status", "severity", "backlog_item", "updated_at"]
            ref_name = "EscalationLinked"

    @extend_schema(operation_id="escalations_link", summary="Link an escalation to a backlog item (or unlink it)",
                   description="Linking an open escalation also acknowledges it.",
                   request=InputSerializer,
                   responses={200: OutputSerializer, 400: _INVALID, 401: _UNAUTHENTICATED, 403: _FORBIDDEN,
                              404: OpenApiResponse(ErrorSerializer, description="No such escalation.")})
    def put(self, request: Request, escalation_id: int) -> Response:
        escalation = Escalation.objects.filter(pk=escalation_id).select_related("backlog_item").first()
        if escalation is None:
            raise Http404
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        item_id = serializer.validated_data["item"]
        item = None
        if item_id is not None:
            item = BacklogItem.objects.filter(pk=item_id).first()
            if item is None:
                raise ValidationError({"item": "Unknown backlog item id."})
        try:
            escalation_link(escalation=escalation, item=item, user=request.user,
                            note=serializer.validated_data.get("note", ""))
        except EscalationError as exc:
            return _bad(exc)
        return Response(self.OutputSerializer(escalation).data)


urlpatterns = [
    path("backlog-items/", BacklogItemListApi.as_view(), name="api-backlog-item-list"),
    path("backlog-items/<int:item_id>/", BacklogItemDetailApi.as_view(), name="api-backlog-item-detail"),
    path("backlog-items/<int:item_id>/demand/", BacklogItemDemandApi.as_view(), name="api-backlog-item-demand"),
    path("backlog-items/<int:item_id>/links/", ThemeLinkCreateApi.as_view(), name="api-theme-link-create"),
    path("backlog-items/<int:item_id>/links/<int:theme_id>/", ThemeLinkDeleteApi.as_view(),
         name="api-theme-link-delete"),
    path("escalations/<int:escalation_id>/backlog-item/", EscalationLinkApi.as_view(), name="api-escalation-link"),
]
