"""Writes to the ticket store, one module per concern; every public name is importable from here.

- ``ingest``: ``ingest_records`` (the one path into the store) and the ``SyncRun`` bookkeeping;
- ``files``: CSV / JSON Lines / JSON uploads and the ``import_tickets`` command;
- ``webhooks``: tickets pushed through the REST API and signed webhooks;
- ``sync``: help-desk syncs through ``tickets.connectors`` (``source_sync`` and its schedule);
- ``people``: users and their API tokens.
"""

from __future__ import annotations

from tickets.models import SyncTrigger
from tickets.services.files import IMPORT_UPLOAD_DIR, file_import_create, file_import_run, file_import_upload
from tickets.services.ingest import (
    IngestCounts,
    SourceDisabled,
    ingest_records,
    source_get_or_create,
    sync_run_finish,
    sync_run_record_progress,
    sync_run_start,
)
from tickets.services.people import api_token_get_or_create, user_create
from tickets.services.sync import (
    SYNC_LOCK_NAMESPACE,
    SYNC_TRIGGERS,
    SyncAlreadyRunning,
    source_configure,
    source_sync,
    source_sync_queue,
    source_test_connection,
    sources_due_for_sync,
    sources_sync_due_queue,
)
from tickets.services.webhooks import (
    MAX_TICKETS_PER_REQUEST,
    InvalidDelivery,
    MappingIngestResult,
    WebhookNotConfigured,
    source_webhook_secret_rotate,
    tickets_bulk_import,
    tickets_ingest_mappings,
    webhook_delivery_ingest,
)

__all__ = [
    "IMPORT_UPLOAD_DIR",
    "MAX_TICKETS_PER_REQUEST",
    "SYNC_LOCK_NAMESPACE",
    "SYNC_TRIGGERS",
    "IngestCounts",
    "InvalidDelivery",
    "MappingIngestResult",
    "SourceDisabled",
    "SyncAlreadyRunning",
    "SyncTrigger",
    "WebhookNotConfigured",
    "api_token_get_or_create",
    "file_import_create",
    "file_import_run",
    "file_import_upload",
    "ingest_records",
    "source_configure",
    "source_get_or_create",
    "source_sync",
    "source_sync_queue",
    "source_test_connection",
    "source_webhook_secret_rotate",
    "sources_due_for_sync",
    "sources_sync_due_queue",
    "sync_run_finish",
    "sync_run_record_progress",
    "sync_run_start",
    "tickets_bulk_import",
    "tickets_ingest_mappings",
    "user_create",
    "webhook_delivery_ingest",
]
