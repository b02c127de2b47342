"""Signed webhooks: any tool can push tickets to ``POST /api/webhooks/<source>/``.

The delivery is authenticated by its HMAC signature alone (no user, no session, no CSRF token);
the scheme is documented in ``tickets.connectors.webhook`` and repeated in the OpenAPI text below.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.urls import reverse
from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import AuthenticationFailed, NotFound, ParseError, PermissionDenied
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from tickets.access import access_sources_manage, api_access
from tickets.api.common import (
    TICKET_MAPPING_EXAMPLE,
    ErrorSerializer,
    ImportResultSerializer,
    PayloadTooLarge,
    TicketMappingField,
    import_result_status,
    reject_oversized_body,
)
from tickets.connectors import webhook
from tickets.models import Source
from tickets.selectors import source_get_by_ref
from tickets.services import (
    MAX_TICKETS_PER_REQUEST,
    InvalidDelivery,
    SourceDisabled,
    WebhookNotConfigured,
    source_webhook_secret_rotate,
    webhook_delivery_ingest,
)
from tickets.services.webhooks import ReplayedDelivery

SIGNING_SCHEME = f"""**Authentication.** Not a token or a session: each delivery is signed with the source's webhook
secret (an admin creates it with `POST /api/sources/{{source}}/webhook-secret/`).

1. `timestamp` = the current time in whole Unix seconds, e.g. `1767225600`.
2. `message` = the ASCII timestamp, a dot, then the raw body bytes exactly as sent:
   `1767225600.{{"external_id": "T-1", ...}}`.
3. `signature` = lowercase hex of HMAC-SHA256(key = webhook secret as UTF-8, message).
4. Send the headers `{webhook.TIMESTAMP_HEADER}: <timestamp>` and
   `{webhook.SIGNATURE_HEADER}: sha256=<signature>`.

Deliveries more than `THREADLINE_WEBHOOK_TOLERANCE_SECONDS` (300 by default) away from the server clock
are refused, so a captured delivery cannot be replayed later. Within that window a repeated delivery
changes nothing: with Redis as the cache the exact delivery (same signature) is refused with 409, and
in any case tickets are upserted by `external_id`, so it would count as unchanged. `tickets/connectors/webhook.py`
(`sign`, `signed_headers`, `verify`) implements the scheme in Python.

**Body.** One ticket in the documented import form, or `{{"tickets": [ ... ]}}` with up to
{MAX_TICKETS_PER_REQUEST:,} of them. The response has the same shape as the bulk API's.
"""


class WebhookBatchSerializer(serializers.Serializer):
    tickets = serializers.ListField(child=TicketMappingField(), max_length=MAX_TICKETS_PER_REQUEST)

    class Meta:
        ref_name = "WebhookBatch"


class WebhookBodySerializer(serializers.Serializer):
    """Schema only (the view verifies the raw bytes before it parses them): one ticket or a batch."""

    class Meta:
        ref_name = "WebhookBody"


class WebhookBodySchema(OpenApiSerializerExtension):
    target_class = WebhookBodySerializer

    def map_serializer(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        one_ticket = auto_schema._map_serializer_field(TicketMappingField(), direction)
        batch = auto_schema.resolve_serializer(WebhookBatchSerializer(), direction).ref
        return {"oneOf": [one_ticket, batch]}


def _source_or_404(ref: str) -> Source:
    source = source_get_by_ref(ref=ref)
    if source is None:
        raise NotFound(f"there is no source {ref[:100]!r}")
    return source


class WebhookReceiveApi(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    def get_authenticate_header(self, request: Request) -> str:
        # Makes DRF answer 401 (not 403) to a bad signature, as HTTP asks of a 401.
        return 'Threadline-Signature realm="webhook"'

    @extend_schema(
        operation_id="webhooks_receive",
        summary="Receive a signed delivery of tickets",
        description=SIGNING_SCHEME,
        auth=[],
        parameters=[
            OpenApiParameter("source", OpenApiTypes.STR, OpenApiParameter.PATH, description="Source name or id."),
            OpenApiParameter(webhook.TIMESTAMP_HEADER, OpenApiTypes.INT, OpenApiParameter.HEADER, required=True,
                             description="Unix seconds when the delivery was signed."),
            OpenApiParameter(webhook.SIGNATURE_HEADER, OpenApiTypes.STR, OpenApiParameter.HEADER, required=True,
                             description="`sha256=` and the hex HMAC-SHA256 of `{timestamp}.{raw body}`."),
        ],
        request={"application/json": WebhookBodySerializer},
        responses={
            200: ImportResultSerializer,
            207: OpenApiResponse(ImportResultSerializer, description="Some tickets were rejected."),
            400: OpenApiResponse(ErrorSerializer, description="The body is not JSON of the documented form."),
            401: OpenApiResponse(ErrorSerializer, description="Missing or wrong signature, or a stale timestamp."),
            403: OpenApiResponse(ErrorSerializer, description="The source is disabled."),
            404: OpenApiResponse(ErrorSerializer, description="No such source, or it has no webhook secret."),
            409: OpenApiResponse(
                ErrorSerializer, description="This exact delivery was accepted already (a replay); nothing changed."
            ),
            413: OpenApiResponse(ErrorSerializer, description="The body is too large."),
        },
        examples=[OpenApiExample("One ticket", request_only=True, value=TICKET_MAPPING_EXAMPLE)],
    )
    def post(self, request: Request, source: str) -> Response:
        reject_oversized_body(request)
        found = _source_or_404(source)
        try:
            body = request.body
        except RequestDataTooBig:
            raise PayloadTooLarge() from None
        try:
            result = webhook_delivery_ingest(
                source=found,
                body=body,
                timestamp_header=request.headers.get(webhook.TIMESTAMP_HEADER),
                signature_header=request.headers.get(webhook.SIGNATURE_HEADER),
            )
        except SourceDisabled as exc:
            raise PermissionDenied(str(exc)) from None
        except WebhookNotConfigured as exc:
            raise NotFound(str(exc)) from None
        except webhook.WebhookRejected as exc:
            raise AuthenticationFailed(str(exc)) from None
        except InvalidDelivery as exc:
            raise ParseError(str(exc)) from None
        except ReplayedDelivery as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(ImportResultSerializer(result).data, status=import_result_status(result))


class WebhookSecretRotateApi(APIView):
    permission_classes = [api_access(access_sources_manage)]

    class OutputSerializer(serializers.Serializer):
        source = serializers.CharField()  # type: ignore[assignment]  # see common.ImportResultSerializer
        secret = serializers.CharField(help_text="Shown only now; store it in the sending tool.")
        webhook_url = serializers.URLField()

        class Meta:
            ref_name = "WebhookSecret"

    @extend_schema(
        operation_id="sources_webhook_secret_rotate",
        summary="Create or replace a source's webhook secret",
        description="The previous secret stops working at once. Needs the permission to manage sources.",
        request=None,
        parameters=[
            OpenApiParameter("source", OpenApiTypes.STR, OpenApiParameter.PATH, description="Source name or id.")
        ],
        responses={
            200: OutputSerializer,
            401: OpenApiResponse(ErrorSerializer, description="No or invalid credentials."),
            403: OpenApiResponse(ErrorSerializer, description="The user's role does not allow this."),
            404: OpenApiResponse(ErrorSerializer, description="No such source."),
        },
    )
    def post(self, request: Request, source: str) -> Response:
        found = _source_or_404(source)
        secret = source_webhook_secret_rotate(source=found)
        url = request.build_absolute_uri(reverse("api-webhook", kwargs={"source": found.name}))
        data = self.OutputSerializer({"source": found.name, "secret": secret, "webhook_url": url}).data
        return Response(data, headers={"Cache-Control": "no-store"})  # a secret must not sit in caches
