"""Pieces the ticket API's endpoints share: the ticket mapping field, the import result, errors.

The mapping's OpenAPI schema below describes the form ``tickets.records`` documents; it is for
readers and client generators only. Validation is ``ticket_record_from_dict``'s alone, per item,
so one bad ticket is reported instead of failing the whole request.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.extensions import OpenApiSerializerExtension, OpenApiSerializerFieldExtension
from rest_framework import serializers, status
from rest_framework.exceptions import APIException
from rest_framework.request import Request

from tickets.services import MappingIngestResult

TICKET_MAPPING_EXAMPLE: dict[str, Any] = {
    "external_id": "T-1042",
    "subject": "Card declined abroad",
    "body": "Hi, my card is declined in Spain. Any idea why?",
    "created_at": "2026-03-01T09:30:00Z",
    "requester_email": "mia@example.com",
    "requester_name": "Mia Jensen",
    "organization": "Acme",
    "plan": "pro",
    "arr": 12000,
    "channel": "email",
    "status": "open",
    "tags": ["billing", "cards"],
}

_MESSAGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["body"],
    "properties": {
        "external_id": {"type": "string", "description": "Unique within the ticket; defaults to position."},
        "author_role": {"type": "string", "description": "customer, agent or bot (synonyms accepted)."},
        "author_name": {"type": "string"},
        "body": {"type": "string", "description": "Plain text, at most 100,000 characters."},
        "created_at": {"type": "string", "description": "ISO 8601 or Unix seconds; defaults to the ticket's."},
        "public": {"type": "boolean", "description": "False for internal notes."},
    },
}

TICKET_MAPPING_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": (
        "One ticket or chat conversation in the documented import form (the same as a CSV row or a "
        "JSONL line). Empty strings count as absent; unknown keys are ignored."
    ),
    "required": ["external_id", "created_at"],
    "properties": {
        "external_id": {"type": "string", "description": "The ticket's id in the source, unique per source."},
        "body": {"type": "string", "description": "The customer's first message; required unless messages."},
        "created_at": {
            "type": "string",
            "description": "ISO 8601 (2026-03-01T09:30:00Z) or Unix seconds; without offset = UTC.",
        },
        "subject": {"type": "string"},
        "requester_email": {"type": "string"},
        "requester_name": {"type": "string"},
        "requester_id": {"type": "string"},
        "organization": {"type": "string", "description": "Organization name."},
        "organization_id": {"type": "string", "description": "Organization id, if the source has ids."},
        "plan": {"type": "string"},
        "arr": {"type": "number", "description": "Annual recurring revenue of the organization."},
        "channel": {"type": "string", "description": "email, chat, phone, web, social, api or other."},
        "status": {"type": "string", "description": "new, open, pending, solved or closed."},
        "priority": {"type": "string"},
        "tags": {
            "type": "array",
            "items": {"type": "string"},
            "description": "Or one string separated by commas, semicolons or pipes.",
        },
        "csat": {"type": "integer", "description": "1-5."},
        "updated_at": {"type": "string"},
        "solved_at": {"type": "string"},
        "language": {"type": "string"},
        "url": {"type": "string", "description": "Link to the ticket in the help desk (http or https)."},
        "reopen_count": {"type": "integer"},
        "messages": {"type": "array", "items": _MESSAGE_SCHEMA, "description": "The whole conversation."},
    },
    "example": TICKET_MAPPING_EXAMPLE,
}


class TicketMappingField(serializers.JSONField):
    """Any JSON value; each item is validated later by ``ticket_record_from_dict``."""

    def to_internal_value(self, data: Any) -> Any:
        # The body parser made it from JSON already. JSONField would re-encode it and refuse the whole
        # request for one item's number that overflows to infinity (1e999999); the item's own check
        # rejects just that item instead.
        return data


class TicketMappingFieldSchema(OpenApiSerializerFieldExtension):
    target_class = TicketMappingField

    def get_name(self) -> str:
        return "TicketMapping"

    def map_serializer_field(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        return TICKET_MAPPING_SCHEMA


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="What went wrong, in words the caller can act on.")

    class Meta:
        ref_name = "Error"


VALIDATION_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": (
        "Why the request was refused: `detail` for the request as a whole, or each wrong field "
        "(`non_field_errors` for their combination) with its messages. A field of a nested object or "
        "list has an object of its own, keyed by sub-field or index."
    ),
    "properties": {"detail": {"type": "string"}},
    "additionalProperties": {
        "anyOf": [
            {"type": "string"},
            {"type": "array", "items": {}},
            {"type": "object"},
        ]
    },
    "example": {"title": ["This field is required."]},
}


class ValidationErrorSerializer(serializers.Serializer):
    """Schema only: the body of a 400 from DRF's validation (``VALIDATION_ERROR_SCHEMA``)."""

    class Meta:
        ref_name = "ValidationError"


class ValidationErrorSchema(OpenApiSerializerExtension):
    target_class = ValidationErrorSerializer

    def map_serializer(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        return VALIDATION_ERROR_SCHEMA


class RejectedTicketSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="Position of the ticket in the request, from 0.")
    external_id = serializers.CharField(allow_null=True)
    reason = serializers.CharField()

    class Meta:
        ref_name = "RejectedTicket"


class ImportResultSerializer(serializers.Serializer):
    """What an API or webhook import did; built from a ``MappingIngestResult``."""

    sync_run = serializers.IntegerField(source="sync_run.pk", help_text="The SyncRun recording this import.")
    source = serializers.CharField(source="sync_run.source.name")  # type: ignore[assignment]  # the stubs mistake a field for Field.source
    created = serializers.IntegerField(source="counts.created")
    updated = serializers.IntegerField(source="counts.updated")
    unchanged = serializers.IntegerField(source="counts.unchanged", help_text="Already stored exactly so.")
    rejected = RejectedTicketSerializer(many=True)

    class Meta:
        ref_name = "ImportResult"


def import_result_status(result: MappingIngestResult) -> int:
    """200 when every ticket was accepted, 207 when some (or all) were rejected."""
    return status.HTTP_207_MULTI_STATUS if result.rejected else status.HTTP_200_OK


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


def reject_oversized_body(request: Request) -> None:
    """Refuse a body over ``THREADLINE_API_MAX_BODY_BYTES`` before anything reads it.

    DRF's JSON parser streams the body without Django's DATA_UPLOAD_MAX_MEMORY_SIZE check.
    """
    limit = settings.THREADLINE_API_MAX_BODY_BYTES
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > limit:
        raise PayloadTooLarge(
            f"the body is {length:,} bytes; the limit is {limit:,}. Send the tickets in smaller requests."
        )
