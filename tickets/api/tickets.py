"""Reading tickets and creating them in bulk: ``/api/tickets/``."""

from __future__ import annotations

from typing import Any

from django.http import Http404
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from tickets.access import access_tickets_import, access_tickets_read, api_access
from tickets.api.common import (
    TICKET_MAPPING_EXAMPLE,
    ErrorSerializer,
    ImportResultSerializer,
    TicketMappingField,
    ValidationErrorSerializer,
    import_result_status,
    reject_oversized_body,
)
from tickets.api.parsers import JSONBodyParser
from tickets.filters import TicketFilter
from tickets.models import Customer, Message, Organization, Source, Ticket
from tickets.selectors import ticket_detail, ticket_list
from tickets.services import MAX_TICKETS_PER_REQUEST, SourceDisabled, tickets_bulk_import

_UNAUTHENTICATED = OpenApiResponse(ErrorSerializer, description="No or invalid credentials.")
_FORBIDDEN = OpenApiResponse(ErrorSerializer, description="The user's role does not allow this.")


class SourceRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Source
        fields = ["id", "name", "kind"]
        ref_name = "SourceRef"


class CustomerSerializer(serializers.ModelSerializer):
    class Meta:
        model = Customer
        fields = ["id", "external_id", "name", "email"]
        ref_name = "Requester"


class OrganizationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Organization
        fields = ["id", "external_id", "name", "plan", "arr"]
        ref_name = "Organization"


class MessageSerializer(serializers.ModelSerializer):
    class Meta:
        model = Message
        fields = ["id", "external_id", "author_role", "author_name", "body", "created_at", "is_public"]
        ref_name = "Message"


class TicketCursorPagination(CursorPagination):
    """Keyset pagination: no COUNT and no OFFSET scan, so page 10,000 costs what page 1 costs."""

    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class TicketListApi(ListAPIView):
    permission_classes = [api_access(access_tickets_read)]
    filterset_class = TicketFilter
    pagination_class = TicketCursorPagination

    class OutputSerializer(serializers.ModelSerializer):
        source = SourceRefSerializer()  # type: ignore[assignment]  # see common.ImportResultSerializer
        requester = CustomerSerializer(allow_null=True)
        organization = OrganizationSerializer(allow_null=True)
        tags = serializers.ListField(child=serializers.CharField(), help_text="The source's own tags.")

        class Meta:
            model = Ticket
            fields = [
                "id", "source", "external_id", "channel", "subject", "status", "priority", "requester",
                "organization", "created_at", "updated_at", "solved_at", "tags", "csat", "language", "url",
            ]
            ref_name = "TicketSummary"

    serializer_class = OutputSerializer

    def get_queryset(self) -> Any:
        return ticket_list()

    @extend_schema(
        operation_id="tickets_list",
        summary="List tickets",
        description="Newest first, in pages linked by `next` / `previous` cursors. Filters combine with AND.",
        responses={
            200: OutputSerializer(many=True),
            400: OpenApiResponse(ValidationErrorSerializer, description="An invalid filter."),
            401: _UNAUTHENTICATED,
            403: _FORBIDDEN,
            # DRF's cursor pagination answers a cursor it did not issue with 404 ("Invalid cursor").
            404: OpenApiResponse(ErrorSerializer, description="A `cursor` this API did not issue."),
        },
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class TicketDetailApi(APIView):
    permission_classes = [api_access(access_tickets_read)]

    class OutputSerializer(TicketListApi.OutputSerializer):
        messages = MessageSerializer(many=True)

        class Meta(TicketListApi.OutputSerializer.Meta):
            fields = [*TicketListApi.OutputSerializer.Meta.fields, "reopen_count", "ingested_at", "messages"]
            ref_name = "TicketDetail"

    @extend_schema(
        operation_id="tickets_retrieve",
        summary="One ticket with its conversation",
        responses={200: OutputSerializer, 401: _UNAUTHENTICATED, 403: _FORBIDDEN,
                   404: OpenApiResponse(ErrorSerializer, description="No ticket with this id.")},
    )
    def get(self, request: Request, ticket_id: int) -> Response:
        try:
            ticket = ticket_detail(ticket_id=ticket_id)
        except Ticket.DoesNotExist:
            raise Http404 from None
        return Response(self.OutputSerializer(ticket).data)


class TicketBulkCreateApi(APIView):
    permission_classes = [api_access(access_tickets_import)]
    parser_classes = [JSONBodyParser]

    class InputSerializer(serializers.Serializer):
        source = serializers.CharField(  # type: ignore[assignment]
            max_length=100, help_text='Source name; created (kind "api") if there is none of that name.'
        )
        tickets = serializers.ListField(
            child=TicketMappingField(),
            allow_empty=False,
            max_length=MAX_TICKETS_PER_REQUEST,
            error_messages={
                "max_length": f"at most {MAX_TICKETS_PER_REQUEST:,} tickets per request; split the list",
            },
        )

        class Meta:
            ref_name = "TicketBulkCreate"

    @extend_schema(
        operation_id="tickets_bulk_create",
        summary="Create or update tickets in bulk",
        description=(
            f"Up to {MAX_TICKETS_PER_REQUEST:,} tickets in the documented import form. Each is validated on "
            "its own: valid tickets are stored (an upsert by `external_id`, so sending the same tickets "
            "again changes nothing) and invalid ones are listed in `rejected` with their index and the "
            "reason. The status is 200 when every ticket was accepted and 207 when any was rejected."
        ),
        request=InputSerializer,
        responses={
            200: ImportResultSerializer,
            207: OpenApiResponse(ImportResultSerializer, description="Some tickets were rejected."),
            400: OpenApiResponse(
                ValidationErrorSerializer, description="The body is not of this form, or lists too many tickets."
            ),
            401: _UNAUTHENTICATED,
            403: _FORBIDDEN,
            409: OpenApiResponse(ErrorSerializer, description="The source is disabled."),
            413: OpenApiResponse(ErrorSerializer, description="The body is too large."),
        },
        examples=[
            OpenApiExample(
                "One ticket", request_only=True, value={"source": "api", "tickets": [TICKET_MAPPING_EXAMPLE]}
            )
        ],
    )
    def post(self, request: Request) -> Response:
        reject_oversized_body(request)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            result = tickets_bulk_import(
                source_name=serializer.validated_data["source"],
                mappings=serializer.validated_data["tickets"],
                user=request.user,
            )
        except SourceDisabled as exc:
            return Response({"detail": str(exc)}, status=409)
        return Response(ImportResultSerializer(result).data, status=import_result_status(result))
