"""File imports over the API: ``POST /api/imports/`` queues one, ``GET /api/imports/<id>/`` follows it."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from tickets.access import access_tickets_import, api_access
from tickets.api.common import ErrorSerializer, PayloadTooLarge, ValidationErrorSerializer
from tickets.forms import (
    upload_declared_too_large,
    upload_limit_install,
    upload_too_large_message,
    validate_import_file,
)
from tickets.models import SourceKind, SyncRun, SyncRunStatus, SyncTrigger
from tickets.selectors import import_run_detail
from tickets.services import SourceDisabled, file_import_upload, source_get_or_create

_UNAUTHENTICATED = OpenApiResponse(ErrorSerializer, description="No or invalid credentials.")
_FORBIDDEN = OpenApiResponse(ErrorSerializer, description="Only admins may import tickets.")


@extend_schema_field(OpenApiTypes.BINARY)
class UploadedFileField(serializers.FileField):
    """A file sent as a multipart part; without COMPONENT_SPLIT_REQUEST the schema would call it a URI."""


class ImportCreateApi(APIView):
    permission_classes = [api_access(access_tickets_import)]
    parser_classes = [MultiPartParser]

    class InputSerializer(serializers.Serializer):
        file = UploadedFileField(
            validators=[validate_import_file],
            help_text="A .csv, .jsonl, .ndjson or .json file in the documented import form, UTF-8.",
        )
        source = serializers.CharField(  # type: ignore[assignment]  # see common.ImportResultSerializer
            max_length=100, help_text='Source name; created (kind "upload") if there is none of that name.'
        )

        class Meta:
            ref_name = "ImportCreate"

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField(source="pk", help_text="The SyncRun recording this import.")
        status = serializers.ChoiceField(choices=SyncRunStatus.choices)
        url = serializers.URLField(help_text="Poll this for progress, counts and rejected rows.")

        class Meta:
            ref_name = "ImportQueued"

    def initialize_request(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Request:
        # Before DRF, or the CSRF check of a session, reads the body.
        self.upload_limit = upload_limit_install(request)
        return super().initialize_request(request, *args, **kwargs)

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        if upload_declared_too_large(request):
            raise PayloadTooLarge(upload_too_large_message("This request is too large"))
        super().initial(request, *args, **kwargs)

    @extend_schema(
        operation_id="imports_create",
        summary="Import a ticket file",
        description=(
            "Upload a CSV, JSON Lines or JSON-array file (multipart form). It is stored and imported in the "
            "background: the answer is 202 at once, with the run to poll at `url`. Rows that cannot be "
            "imported are reported there by line number and reason; the good rows are kept. Importing the "
            "same file again changes nothing (tickets are upserted by `external_id`)."
        ),
        request={"multipart/form-data": InputSerializer},
        responses={
            202: OutputSerializer,
            400: OpenApiResponse(
                ValidationErrorSerializer,
                description="No file, an unsupported or empty file, or one over the size limit.",
            ),
            401: _UNAUTHENTICATED,
            403: _FORBIDDEN,
            409: OpenApiResponse(ErrorSerializer, description="The source is disabled."),
            413: OpenApiResponse(ErrorSerializer, description="The file is over the size limit."),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        if self.upload_limit.exceeded:
            raise PayloadTooLarge(upload_too_large_message("This file is larger than that"))
        serializer.is_valid(raise_exception=True)
        source = source_get_or_create(name=serializer.validated_data["source"].strip(), kind=SourceKind.UPLOAD)
        try:
            sync_run = file_import_upload(
                source=source,
                upload=serializer.validated_data["file"],
                trigger=SyncTrigger.API,
                started_by=request.user,
            )
        except SourceDisabled as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        # Without a broker the import has already run (tasks run inline); say how it ended.
        sync_run.refresh_from_db(fields=["status"])
        url = request.build_absolute_uri(reverse("api-import-detail", args=[sync_run.pk]))
        body = self.OutputSerializer({"pk": sync_run.pk, "status": sync_run.status, "url": url}).data
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": url})


class RejectedRowSerializer(serializers.Serializer):
    line = serializers.IntegerField(help_text="The line of the file the row starts on, from 1.")
    external_id = serializers.CharField(allow_null=True)
    reason = serializers.CharField()

    class Meta:
        ref_name = "RejectedRow"


class ImportProgressSerializer(serializers.Serializer):
    done = serializers.IntegerField(source="progress_done", help_text="Bytes of the file read so far.")
    total = serializers.IntegerField(source="progress_total", allow_null=True, help_text="Size of the file in bytes.")
    percent = serializers.IntegerField(source="progress_percent", allow_null=True)

    class Meta:
        ref_name = "ImportProgress"


class ImportCountsSerializer(serializers.Serializer):
    fetched = serializers.IntegerField(help_text="Rows read: created + updated + unchanged + rejected.")
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField(help_text="Already stored exactly so.")
    rejected = serializers.IntegerField()

    class Meta:
        ref_name = "ImportCounts"


class ImportDetailApi(APIView):
    permission_classes = [api_access(access_tickets_import)]

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField(source="pk")
        source = serializers.CharField(source="source.name")  # type: ignore[assignment]  # see common.ImportResultSerializer
        status = serializers.ChoiceField(choices=SyncRunStatus.choices)
        file_name = serializers.CharField()
        created_at = serializers.DateTimeField()
        started_at = serializers.DateTimeField(allow_null=True)
        finished_at = serializers.DateTimeField(allow_null=True)
        progress = ImportProgressSerializer(source="*")
        counts = ImportCountsSerializer(source="*")
        errors = RejectedRowSerializer(  # type: ignore[assignment]  # a field, not Serializer.errors
            many=True,
            help_text=f"Rejected rows in file order; the first {SyncRun.MAX_REPORTED_ERRORS:,} are kept.",
        )
        failure = serializers.CharField(help_text="Why the file as a whole could not be imported, if it failed.")

        class Meta:
            ref_name = "ImportRun"

    @extend_schema(
        operation_id="imports_retrieve",
        summary="Progress and result of a file import",
        responses={
            200: OutputSerializer,
            401: _UNAUTHENTICATED,
            403: _FORBIDDEN,
            404: OpenApiResponse(ErrorSerializer, description="No import with this id."),
        },
    )
    def get(self, request: Request, sync_run_id: int) -> Response:
        try:
            sync_run = import_run_detail(sync_run_id=sync_run_id)
        except SyncRun.DoesNotExist:
            raise Http404 from None
        return Response(self.OutputSerializer(sync_run).data)
