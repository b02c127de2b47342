"""Writes of the insights app."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from tickets.models import IngestBatch, IngestBatchStatus, Ticket


def ingest_batch_process(*, batch_id: int) -> IngestBatch:
    """Take one committed ingest batch through processing and mark it processed.

    Safe to run twice (late acknowledgement may redeliver it): a batch already processed is
    returned as it is. The row is locked so two workers never process the same batch at once.
    Processing here confirms which of the batch's tickets still exist; theme assignment is
    added to this step by the theming engine.
    """
    with transaction.atomic():
        batch = IngestBatch.objects.select_for_update().get(pk=batch_id)
        if batch.status == IngestBatchStatus.PROCESSED:
            return batch
        batch.processed_count = Ticket.objects.filter(pk__in=batch.ticket_ids).count()
        batch.status = IngestBatchStatus.PROCESSED
        batch.processed_at = timezone.now()
        batch.save(update_fields=["processed_count", "status", "processed_at"])
    return batch
