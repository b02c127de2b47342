"""Writes of the insights app: processing tickets into themes, models, statistics, people's decisions.

The analysis itself happens in ``insights.analysis`` (pure functions); these services load rows,
call it, and persist what it returns. One module per concern; every public name is re-exported
here, so ``from insights.services import X`` is the way to use them:

- ``versions``: trained models as versioned artefacts; ``storage``: bulk reads and writes
  (vectors as one matrix, PostgreSQL statements with binary array parameters);
- ``processing``: ingested tickets → prepared text, vector, themes; ``stats``: daily statistics;
- ``curation``: a support lead's decisions; ``spikes``: spike alerts;
- ``representation``, ``learning``: fitting the representation and the assignment model;
- ``discovery``: discovery runs and their progress.
"""

from __future__ import annotations

from insights.services.curation import (
    ThemeActionError,
    theme_accept,
    theme_archive,
    theme_create,
    theme_dismiss,
    theme_merge,
    theme_rename,
    theme_split,
    ticket_no_request_mark,
    ticket_no_request_undo,
    ticket_retag,
)
from insights.services.discovery import (
    DISCOVERY_MAX_POOL,
    discovery_run,
    discovery_run_queue,
)
from insights.services.learning import (
    CORRECTION_ACTIONS,
    REASSIGN_CHUNK,
    RETRAIN_PER_THEME,
    RETRAIN_POOL,
    SELF_LABEL_CONFIDENCE,
    STRUCTURAL_CHANGES,
    classifier_retrain,
    classifier_retrain_if_needed,
    tickets_reassign_all,
)
from insights.services.processing import (
    assignment_threshold,
    ingest_batch_process,
    tickets_analyse,
    tickets_assign,
)
from insights.services.representation import (
    VECTORISE_CHUNK,
    analyses_vectorise,
    representation_ensure,
    representation_fit,
)
from insights.services.spikes import (
    SPIKE_HISTORY_DAYS,
    spike_alert_notify,
    spike_alert_text,
    spikes_check,
)
from insights.services.stats import (
    stats_version,
    stats_version_bump,
    theme_stats_mark_dirty,
    theme_stats_refresh,
)
from insights.services.storage import LOAD_CHUNK, VECTOR_DTYPE, Progress, vectors_of
from insights.services.versions import (
    model_version_active,
    model_version_load,
    model_version_save,
)

__all__ = [
    "CORRECTION_ACTIONS",
    "DISCOVERY_MAX_POOL",
    "LOAD_CHUNK",
    "REASSIGN_CHUNK",
    "RETRAIN_PER_THEME",
    "RETRAIN_POOL",
    "SELF_LABEL_CONFIDENCE",
    "SPIKE_HISTORY_DAYS",
    "STRUCTURAL_CHANGES",
    "VECTORISE_CHUNK",
    "VECTOR_DTYPE",
    "Progress",
    "ThemeActionError",
    "analyses_vectorise",
    "assignment_threshold",
    "classifier_retrain",
    "classifier_retrain_if_needed",
    "discovery_run",
    "discovery_run_queue",
    "ingest_batch_process",
    "model_version_active",
    "model_version_load",
    "model_version_save",
    "representation_ensure",
    "representation_fit",
    "spike_alert_notify",
    "spike_alert_text",
    "spikes_check",
    "stats_version",
    "stats_version_bump",
    "theme_accept",
    "theme_archive",
    "theme_create",
    "theme_dismiss",
    "theme_merge",
    "theme_rename",
    "theme_split",
    "theme_stats_mark_dirty",
    "theme_stats_refresh",
    "ticket_no_request_mark",
    "ticket_no_request_undo",
    "ticket_retag",
    "tickets_analyse",
    "tickets_assign",
    "tickets_reassign_all",
    "vectors_of",
]
