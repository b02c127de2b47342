"""Forms of the ticket store's pages, and the upload check the import API shares with them."""

from __future__ import annotations

from pathlib import PurePath
from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.template.defaultfilters import filesizeformat

from tickets.connectors.files import IMPORT_FILE_SUFFIXES
from tickets.models import Source


def validate_import_file(upload: File) -> None:
    """A ticket file we can read: a known suffix, not empty, within THREADLINE_MAX_UPLOAD_BYTES."""
    if PurePath(upload.name or "").suffix.lower() not in IMPORT_FILE_SUFFIXES:
        raise ValidationError("Choose a .csv, .jsonl, .ndjson or .json file.", code="file_type")
    size, limit = upload.size or 0, settings.THREADLINE_MAX_UPLOAD_BYTES
    if size == 0:
        raise ValidationError("This file is empty.", code="empty")
    if size > limit:
        raise ValidationError(
            f"This file is {filesizeformat(size)}; the limit is {filesizeformat(limit)}. Split it, or "
            "import it on the server with: manage.py import_tickets PATH --source NAME",
            code="file_size",
        )


class ImportUploadForm(forms.Form):
    source = forms.ModelChoiceField(
        queryset=Source.objects.order_by("name"), required=False, empty_label="— a new source —"
    )
    new_source = forms.CharField(
        max_length=100,
        required=False,
        label="New source name",
        widget=forms.TextInput(attrs={"placeholder": "e.g. Zendesk export"}),
        help_text="Tickets are matched by external_id within a source, so re-importing updates them.",
    )
    file = forms.FileField(
        validators=[validate_import_file],
        widget=forms.ClearableFileInput(attrs={"accept": ",".join(IMPORT_FILE_SUFFIXES)}),
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("source") and cleaned.get("new_source"):
            self.add_error("new_source", "Choose an existing source or type a new name, not both.")
        elif not cleaned.get("source") and not cleaned.get("new_source"):
            self.add_error("new_source", "Choose a source, or type a name for a new one.")
        return cleaned
