"""Forms of the ticket store's pages, and the upload check the import API shares with them."""

from __future__ import annotations

from pathlib import PurePath
from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http import HttpRequest
from django.template.defaultfilters import filesizeformat

from tickets.connectors.base import SettingField
from tickets.connectors.files import IMPORT_FILE_SUFFIXES
from tickets.models import Source


def validate_import_file(upload: File) -> None:
    """A ticket file we can read: a known suffix, not empty, within THREADLINE_MAX_UPLOAD_BYTES."""
    if PurePath(upload.name or "").suffix.lower() not in IMPORT_FILE_SUFFIXES:
        raise ValidationError("Choose a .csv, .jsonl, .ndjson or .json file.", code="file_type")
    size = upload.size or 0
    if size == 0:
        raise ValidationError("This file is empty.", code="empty")
    if size > settings.THREADLINE_MAX_UPLOAD_BYTES:
        raise ValidationError(upload_too_large_message(f"This file is {filesizeformat(size)}"), code="file_size")


def upload_too_large_message(what: str) -> str:
    limit = filesizeformat(settings.THREADLINE_MAX_UPLOAD_BYTES)
    return (
        f"{what}; the limit is {limit}. Split it, or import it on the server with: "
        "manage.py import_tickets PATH --source NAME"
    )


# What a multipart request carries besides the file: the other fields and the parts' headers.
UPLOAD_FORM_OVERHEAD_BYTES = 64 * 1024


def upload_declared_too_large(request: HttpRequest) -> bool:
    """Whether the request's Content-Length alone shows its file is over the limit (nothing is read)."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return False
    return length > settings.THREADLINE_MAX_UPLOAD_BYTES + UPLOAD_FORM_OVERHEAD_BYTES


class UploadLimitHandler(FileUploadHandler):
    """The first upload handler of an import request: it counts the file bytes as they arrive and
    stops receiving past THREADLINE_MAX_UPLOAD_BYTES, whatever the request declared.

    ``StopUpload(connection_reset=True)`` makes Django read no more of the body, and the handlers
    after this one close (and so delete) the temporary file they had begun. ``exceeded`` tells the
    view to answer 413.
    """

    def __init__(self, request: HttpRequest | None = None) -> None:
        super().__init__(request)
        self.limit = settings.THREADLINE_MAX_UPLOAD_BYTES
        self.received = 0
        self.exceeded = False

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        if self.received > self.limit:
            self.exceeded = True
            raise StopUpload(connection_reset=True)
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None  # the handlers after this one make the file


def upload_limit_install(request: HttpRequest) -> UploadLimitHandler:
    """Put an ``UploadLimitHandler`` first on ``request``; call it before anything reads the body."""
    handler = UploadLimitHandler(request)
    request.upload_handlers.insert(0, handler)
    return handler


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


# --- Sources --------------------------------------------------------------------------------------

CLEAR_PREFIX = "clear__"


class SourceForm(forms.Form):
    """A source's name, schedule and on/off switch, plus one field per setting of its connector.

    Secrets are password inputs that never render a value: left empty they keep what is saved,
    and a "remove" box clears one. ``settings_update()`` and ``secrets_update()`` give what
    ``source_configure`` merges into the stored source.
    """

    name = forms.CharField(
        max_length=100, help_text="How this source is called in filters and reports, e.g. “Zendesk EU”."
    )
    sync_every = forms.IntegerField(
        label="Sync every (minutes)",
        required=False,
        min_value=0,
        max_value=7 * 24 * 60,
        widget=forms.NumberInput(attrs={"placeholder": "off"}),
        help_text="Changes are pulled on this schedule. Empty or 0: no schedule, only “Sync now”.",
    )
    enabled = forms.BooleanField(
        required=False,
        initial=True,
        help_text="A disabled source keeps its tickets but is not synced and accepts no imports.",
    )

    def __init__(
        self,
        *args: Any,
        connector_fields: tuple[SettingField, ...] = (),
        source: Source | None = None,
        saved_secrets: set[str] | frozenset[str] = frozenset(),
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.source = source
        self.connector_fields = connector_fields
        self.saved_secrets = set(saved_secrets)
        if source is not None:
            # source_configure finds a source by its name: a rename would create another one.
            self.fields["name"].disabled = True
            self.fields["name"].help_text = "The name identifies the source and cannot change."
            self.initial.update(
                name=source.name, sync_every=source.sync_interval_minutes, enabled=source.enabled
            )
        if not connector_fields:
            del self.fields["sync_every"]
        for setting in connector_fields:
            self.fields[setting.key] = self._setting_field(setting)
            if setting.secret and setting.key in self.saved_secrets:
                self.fields[CLEAR_PREFIX + setting.key] = forms.BooleanField(
                    required=False, label=f"Remove the saved {setting.label.lower()}"
                )
            elif source is not None and not setting.secret:
                self.initial[setting.key] = source.settings.get(setting.key, "")

    def _setting_field(self, setting: SettingField) -> forms.Field:
        saved = setting.secret and setting.key in self.saved_secrets
        widget: forms.Widget
        if setting.secret:
            placeholder = "saved ••• (leave empty to keep)" if saved else ""
            widget = forms.PasswordInput(render_value=False, attrs={"placeholder": placeholder, "autocomplete": "off"})
        else:
            widget = forms.TextInput()
        return forms.CharField(
            label=setting.label,
            help_text=setting.help,
            required=setting.required and not saved,
            strip=True,
            widget=widget,
        )

    def setting_rows(self) -> list[tuple[forms.BoundField, forms.BoundField | None, bool]]:
        """(field, its "remove" box or None, saved) for each connector setting, in the connector's order."""
        rows = []
        for setting in self.connector_fields:
            clear_name = CLEAR_PREFIX + setting.key
            clear = self[clear_name] if clear_name in self.fields else None
            rows.append((self[setting.key], clear, setting.secret and setting.key in self.saved_secrets))
        return rows

    def clean_name(self) -> str:
        name = str(self.cleaned_data["name"]).strip()
        if self.source is None and Source.objects.filter(name=name).exists():
            raise ValidationError("A source with this name exists already; choose another name.", code="unique")
        return name

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        for setting in self.connector_fields:
            if not setting.secret:
                continue
            remove = cleaned.get(CLEAR_PREFIX + setting.key)
            if remove and cleaned.get(setting.key):
                self.add_error(setting.key, "Either enter a new value or remove the saved one, not both.")
            elif remove and setting.required:
                self.add_error(
                    CLEAR_PREFIX + setting.key,
                    f"The {setting.label.lower()} is required; enter a new one instead of removing it.",
                )
        return cleaned

    def settings_update(self) -> dict[str, str]:
        """Every non-secret setting as entered; an empty one is removed from the source."""
        return {f.key: self.cleaned_data.get(f.key) or "" for f in self.connector_fields if not f.secret}

    def secrets_update(self) -> dict[str, str]:
        """Secrets typed in, and "" for those to remove; secrets left empty are not touched."""
        update = {}
        for setting in self.connector_fields:
            if not setting.secret:
                continue
            if self.cleaned_data.get(setting.key):
                update[setting.key] = self.cleaned_data[setting.key]
            elif self.cleaned_data.get(CLEAR_PREFIX + setting.key):
                update[setting.key] = ""
        return update
