"""Writes of the insights app: processing tickets into themes, models, statistics, people's decisions.

The analysis itself happens in ``insights.analysis`` (pure functions); these services load rows,
call it, and persist what it returns.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date, timedelta
from functools import lru_cache
from itertools import islice
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import psycopg
import scipy.sparse as sp
from django.conf import settings
from django.core.mail import send_mail
from django.db import connection, transaction
from django.db.models import Count, Min, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from config.http import http_client
from insights.analysis.classification import classifier_train, should_activate
from insights.analysis.discovery import Discovery, discover, match_to_existing
from insights.analysis.representation import representation_create
from insights.analysis.spikes import SpikeResult, detect_spike, is_new_spike
from insights.analysis.text import Turn, prepare_ticket
from insights.models import (
    AssignmentMethod,
    DiscoveryPhase,
    DiscoveryRun,
    DiscoveryRunStatus,
    ModelKind,
    ModelVersion,
    SpikeAlert,
    Theme,
    ThemeStat,
    ThemeStatDirtyDay,
    ThemeStatus,
    TicketAnalysis,
    TicketTheme,
)
from tickets.models import IngestBatch, IngestBatchStatus, Ticket

logger = logging.getLogger(__name__)

VECTOR_DTYPE = np.float32


# --- model versions ---------------------------------------------------------------------------


def model_version_active(kind: str) -> ModelVersion | None:
    return ModelVersion.objects.filter(kind=kind, is_active=True).first()


def model_version_save(
    *, kind: str, backend: str, artifact: Any, metrics: dict[str, Any], training_size: int = 0,
    manual_labels: int = 0, activate: bool, note: str = "",
) -> ModelVersion:
    """Store a trained artefact as a new version; with ``activate`` it replaces the active one."""
    directory = Path(settings.DATA_DIR) / "models"
    directory.mkdir(parents=True, exist_ok=True)
    with transaction.atomic():
        version = ModelVersion.objects.create(
            kind=kind, backend=backend, artifact="", metrics=metrics, training_size=training_size,
            manual_labels=manual_labels, note=note,
        )
        path = directory / f"{kind}-{version.pk}.joblib"
        joblib.dump(artifact, path)
        version.artifact = str(path)
        version.save(update_fields=["artifact"])
        if activate:
            ModelVersion.objects.filter(kind=kind, is_active=True).update(is_active=False)
            version.is_active, version.activated_at = True, timezone.now()
            version.save(update_fields=["is_active", "activated_at"])
    return version


@lru_cache(maxsize=8)
def _artifact_load(path: str) -> Any:
    # Versions are immutable once written, so a loaded artefact can be kept for the process's life.
    return joblib.load(path)


def model_version_load(version: ModelVersion) -> Any:
    return _artifact_load(version.artifact)


# --- processing tickets -----------------------------------------------------------------------


def ingest_batch_process(*, batch_id: int) -> IngestBatch:
    """Take one committed ingest batch through text preparation, vectors and theme assignment.

    Safe to run twice (late acknowledgement may redeliver it): a processed batch is returned as
    it is, and per ticket the work is skipped when neither its content nor the models changed.
    The batch row is locked so two workers never process the same batch at once.
    """
    with transaction.atomic():
        batch = IngestBatch.objects.select_for_update().get(pk=batch_id)
        if batch.status == IngestBatchStatus.PROCESSED:
            return batch
        batch.processed_count = tickets_analyse(ticket_ids=batch.ticket_ids)
        batch.status = IngestBatchStatus.PROCESSED
        batch.processed_at = timezone.now()
        batch.save(update_fields=["processed_count", "status", "processed_at"])
    return batch


def tickets_analyse(*, ticket_ids: Sequence[int]) -> int:
    """Prepare, vectorise and assign ``ticket_ids``; returns how many tickets exist of them."""
    tickets = list(
        Ticket.objects.filter(pk__in=ticket_ids).prefetch_related("messages").select_related("analysis")
    )
    representation = model_version_active(ModelKind.REPRESENTATION)
    analyses = [_analysis_prepared(ticket, representation) for ticket in tickets]
    stale = [analysis for analysis in analyses if analysis is not None]
    if representation is not None:
        _vectorise(stale, representation)
    TicketAnalysis.objects.bulk_create(
        stale,
        update_conflicts=True,
        unique_fields=["ticket"],
        update_fields=["text", "sentences", "vector", "representation_version", "content_hash"],
    )
    tickets_assign(ticket_ids=[t.pk for t in tickets])
    return len(tickets)


def _analysis_prepared(ticket: Ticket, representation: ModelVersion | None) -> TicketAnalysis | None:
    """A fresh analysis for ``ticket``, or None when the stored one is still current."""
    current = getattr(ticket, "analysis", None)
    if (
        current is not None
        and current.content_hash == ticket.content_hash
        and current.representation_version_id == (representation.pk if representation else None)
    ):
        return None
    prepared = prepare_ticket(
        ticket.subject,
        [Turn(role=m.author_role, body=m.body, is_public=m.is_public) for m in ticket.messages.all()],
    )
    return TicketAnalysis(
        ticket=ticket,
        text=prepared.text,
        sentences=list(prepared.sentences),
        content_hash=ticket.content_hash,
    )


def _vectorise(analyses: list[TicketAnalysis], representation: ModelVersion) -> None:
    if not analyses:
        return
    vectors = model_version_load(representation).transform([a.text for a in analyses])
    for analysis, vector in zip(analyses, vectors, strict=True):
        analysis.vector = np.asarray(vector, dtype=VECTOR_DTYPE).tobytes()
        analysis.representation_version = representation


def vectors_of(analyses: Iterable[TicketAnalysis]) -> np.ndarray:
    rows = [np.frombuffer(bytes(a.vector or b""), dtype=VECTOR_DTYPE) for a in analyses]
    return np.vstack(rows) if rows else np.zeros((0, 0), dtype=VECTOR_DTYPE)


def tickets_assign(*, ticket_ids: Sequence[int]) -> None:
    """Give tickets their themes with the active assignment model; manual decisions are kept.

    Idempotent per ticket and model version: tickets already assigned by the active version
    are skipped. Without an active model (before any theme is accepted) nothing is assigned and
    every ticket waits in the triage pool for discovery.
    """
    classifier_version = model_version_active(ModelKind.CLASSIFIER)
    if classifier_version is None:
        return
    # Only the columns the model reads: whole rows (sentences JSON, model instances) cost more
    # than the prediction itself.
    pending = list(
        TicketAnalysis.objects.filter(ticket_id__in=ticket_ids, vector__isnull=False)
        .exclude(classifier_version=classifier_version)
        .order_by("ticket_id")
        .values_list("ticket_id", "text", "vector")
    )
    if not pending:
        return
    classifier = model_version_load(classifier_version)
    theme_ids = _active_theme_ids()
    ids, texts, blobs = zip(*pending, strict=True)
    vectors = np.frombuffer(b"".join(bytes(b) for b in blobs), dtype=VECTOR_DTYPE).reshape(len(ids), -1)
    assignments = classifier.assign(vectors, list(texts), threshold=assignment_threshold())
    _assignments_store(list(ids), assignments, classifier_version, theme_ids)


def assignment_threshold() -> float:
    return float(getattr(settings, "THREADLINE_ASSIGNMENT_THRESHOLD", 0.5))


def _active_theme_ids() -> dict[str, int]:
    return {str(pk): pk for pk in Theme.objects.filter(status=ThemeStatus.ACTIVE).values_list("pk", flat=True)}


def _assignments_store(
    ticket_ids: list[int], assignments: Sequence[Any], version: ModelVersion, theme_ids: dict[str, int]
) -> None:
    """Replace the model's rows for these tickets; manual rows stay as people left them."""
    manual = set(
        TicketTheme.objects.filter(ticket_id__in=ticket_ids, method=AssignmentMethod.MANUAL).values_list(
            "ticket_id", flat=True
        )
    )
    rows: list[tuple[int, int, float]] = []
    best_themes: list[int | None] = []
    best_confidences: list[float | None] = []
    triage: list[bool] = []
    for ticket_id, assignment in zip(ticket_ids, assignments, strict=True):
        kept = [(theme_ids[key], confidence) for key, confidence in assignment.themes if key in theme_ids]
        best_key, best_confidence = assignment.best if assignment.best else (None, None)
        best_themes.append(theme_ids.get(best_key) if best_key else None)
        best_confidences.append(best_confidence)
        is_manual = ticket_id in manual
        triage.append(not is_manual and not kept)
        if not is_manual:
            rows.extend((ticket_id, theme_id, confidence) for theme_id, confidence in kept)
    with transaction.atomic():
        TicketTheme.objects.filter(ticket_id__in=ticket_ids).exclude(method=AssignmentMethod.MANUAL).delete()
        if connection.vendor == "postgresql":
            _assignments_write_postgres(ticket_ids, rows, best_themes, best_confidences, triage, version)
        else:
            TicketTheme.objects.bulk_create(
                TicketTheme(ticket_id=t, theme_id=th, confidence=c, method=AssignmentMethod.MODEL,
                            model_version=version) for t, th, c in rows
            )
            TicketAnalysis.objects.bulk_update(
                [TicketAnalysis(ticket_id=t, classifier_version=version, best_theme_id=b, best_confidence=c,
                                needs_triage=n)
                 for t, b, c, n in zip(ticket_ids, best_themes, best_confidences, triage, strict=True)],
                ["classifier_version", "best_theme", "best_confidence", "needs_triage"],
            )
        theme_stats_mark_dirty(ticket_ids=ticket_ids)


def _assignments_write_postgres(
    ticket_ids: list[int], rows: list[tuple[int, int, float]], best_themes: list[int | None],
    best_confidences: list[float | None], triage: list[bool], version: ModelVersion,
) -> None:
    """The model's rows and the analyses' best theme in two statements with array parameters:
    a few fixed-size placeholders instead of one per value (the ORM's bulk statements spent
    most of assignment time building and parsing SQL, bench/theming.py)."""
    if rows:
        tickets, themes, confidences = (list(column) for column in zip(*rows, strict=True))
        _ticket_themes_insert_postgres(tickets, themes, confidences, method=AssignmentMethod.MODEL, version=version)
    _execute_binary(
        f"UPDATE {TicketAnalysis._meta.db_table} AS a SET"  # noqa: S608
        " classifier_version_id = %b, best_theme_id = r.b,"
        " best_confidence = r.c, needs_triage = r.n"
        " FROM unnest(%b::bigint[], %b::bigint[], %b::float8[], %b::boolean[]) AS r(t, b, c, n)"
        " WHERE a.ticket_id = r.t",
        [version.pk, ticket_ids, best_themes, best_confidences, triage],
    )


def _execute_binary(sql: str, params: Sequence[Any]) -> None:
    """Run one statement on Django's PostgreSQL connection (same transaction) with its ``%b``
    parameters sent apart from the SQL in binary.

    Django's cursors bind client-side: each array element is quoted into the statement text,
    which the server then parses back (vectors as hex: 2 bytes per byte). Binary parameters made
    writing 5,000 vectors 4–5× faster (bench/theming.py)."""
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql, params)


def _ticket_themes_insert_postgres(
    tickets: list[int], themes: list[int], confidences: list[float], *, method: str,
    version: ModelVersion | None, ignore_conflicts: bool = False,
) -> None:
    """Insert assignment rows in one statement whose values are three array parameters."""
    conflict = " ON CONFLICT DO NOTHING" if ignore_conflicts else ""
    _execute_binary(  # the table name comes from the model, values are parameters
        f"INSERT INTO {TicketTheme._meta.db_table} (ticket_id, theme_id, confidence, method, explanation,"  # noqa: S608
        " model_version_id, assigned_at) SELECT t, th, c, %b, '{}'::jsonb, %b::bigint, %b"
        f" FROM unnest(%b::bigint[], %b::bigint[], %b::float8[]) AS r(t, th, c){conflict}",
        [str(method), version.pk if version else None, timezone.now(), tickets, themes, confidences],
    )


# --- statistics ---------------------------------------------------------------------------------


def theme_stats_mark_dirty(*, ticket_ids: Sequence[int]) -> None:
    """Remember the days of these tickets so their statistics get rebuilt (after commit)."""
    days = set(
        Ticket.objects.filter(pk__in=ticket_ids).annotate(day=TruncDate("created_at")).values_list("day", flat=True)
    )
    ThemeStatDirtyDay.objects.bulk_create([ThemeStatDirtyDay(day=day) for day in days], ignore_conflicts=True)
    if days:
        from insights.tasks import refresh_theme_stats

        transaction.on_commit(refresh_theme_stats.delay)


def theme_stats_refresh(*, limit: int = 366) -> int:
    """Rebuild the statistics of up to ``limit`` dirty days; returns how many days were rebuilt.

    Each day is rebuilt whole from the current assignments (delete, then aggregate), so the
    result never depends on the order in which changes arrived. Rows are claimed with SKIP
    LOCKED: concurrent refreshes work on different days.
    """
    with transaction.atomic():
        claimed = list(
            ThemeStatDirtyDay.objects.select_for_update(skip_locked=True).order_by("day")[:limit]
        )
        days = [row.day for row in claimed]
        if not days:
            return 0
        ThemeStat.objects.filter(day__in=days).delete()
        ThemeStat.objects.bulk_create(_stats_of_days(days))
        ThemeStatDirtyDay.objects.filter(day__in=days).delete()
    return len(days)


def _stats_of_days(days: list[date]) -> list[ThemeStat]:
    rows = (
        TicketTheme.objects.annotate(day=TruncDate("ticket__created_at"))
        .filter(day__in=days)
        .values("theme_id", "day", "ticket__source_id", "ticket__channel", "ticket__organization__plan")
        .annotate(tickets=Count("ticket_id", distinct=True))
        .order_by()
    )
    return [
        ThemeStat(
            theme_id=row["theme_id"], day=row["day"], source_id=row["ticket__source_id"],
            channel=row["ticket__channel"], plan=row["ticket__organization__plan"] or "", tickets=row["tickets"],
        )
        for row in rows
    ]


# --- people's decisions ---------------------------------------------------------------------------


class ThemeActionError(ValueError):
    """A support lead's action that cannot be done as asked; the message says why."""


def _audit(action: str, *, user: Any, theme: Theme | None, ticket: Ticket | None = None,
           before: dict[str, Any] | None = None, after: dict[str, Any] | None = None) -> None:
    from insights.models import ThemeChange

    ThemeChange.objects.create(
        action=action, theme=theme, ticket=ticket, user=user if user and user.is_authenticated else None,
        before=before or {}, after=after or {},
    )


def _ticket_theme_names(ticket: Ticket) -> list[str]:
    return sorted(TicketTheme.objects.filter(ticket=ticket).values_list("theme__name", flat=True))


def _curated_changed(*, ticket_ids: Sequence[int]) -> None:
    """After people changed assignments: statistics follow now, the model at its next training."""
    theme_stats_mark_dirty(ticket_ids=ticket_ids)
    TicketAnalysis.objects.filter(ticket_id__in=ticket_ids).update(needs_triage=False)


@transaction.atomic
def ticket_retag(*, ticket: Ticket, themes: Sequence[Theme], user: Any) -> None:
    """Set exactly these themes on ``ticket`` as a person's decision (confirming one is a retag
    to the themes it already has). The model never overrides it; the next training learns it."""
    unusable = [theme.name for theme in themes if theme.status != ThemeStatus.ACTIVE]
    if unusable:
        raise ThemeActionError(f"Only active themes can be assigned; not: {', '.join(unusable)}")
    before = _ticket_theme_names(ticket)
    TicketTheme.objects.filter(ticket=ticket).delete()
    TicketTheme.objects.bulk_create(
        TicketTheme(ticket=ticket, theme=theme, confidence=1.0, method=AssignmentMethod.MANUAL, assigned_by=user)
        for theme in themes
    )
    after = sorted(theme.name for theme in themes)
    action = "confirm" if before == after else "retag"
    _audit(action, user=user, theme=themes[0] if themes else None, ticket=ticket,
           before={"themes": before}, after={"themes": after})
    _curated_changed(ticket_ids=[ticket.pk])


@transaction.atomic
def theme_create(*, name: str, user: Any, parent: Theme | None = None, description: str = "") -> Theme:
    name = _theme_name_valid(name)
    theme = Theme.objects.create(
        name=name, parent=parent, description=description, status=ThemeStatus.ACTIVE, origin="manual",
        created_by=user if user and user.is_authenticated else None,
    )
    _audit("create", user=user, theme=theme, after={"name": name})
    return theme


def _theme_name_valid(name: str) -> str:
    name = " ".join(name.split())
    if not name:
        raise ThemeActionError("A theme needs a name")
    if len(name) > 120:
        raise ThemeActionError("Keep theme names under 120 characters")
    return name


@transaction.atomic
def theme_rename(*, theme: Theme, name: str, user: Any) -> Theme:
    before = theme.name
    theme.name = _theme_name_valid(name)
    theme.save(update_fields=["name", "updated_at"])
    _audit("rename", user=user, theme=theme, before={"name": before}, after={"name": theme.name})
    return theme


@transaction.atomic
def theme_accept(*, theme: Theme, user: Any, name: str | None = None) -> Theme:
    """A suggested theme becomes active; the tickets discovery put in it count from now on."""
    if theme.status != ThemeStatus.SUGGESTED:
        raise ThemeActionError(f"{theme.name!r} is {theme.get_status_display().lower()}, not suggested")
    before = {"name": theme.name, "status": theme.status}
    theme.name = _theme_name_valid(name or theme.name)
    theme.status = ThemeStatus.ACTIVE
    theme.save(update_fields=["name", "status", "updated_at"])
    _audit("accept", user=user, theme=theme, before=before, after={"name": theme.name, "status": theme.status})
    theme_stats_mark_dirty(ticket_ids=list(theme.ticket_themes.values_list("ticket_id", flat=True)))
    return theme


@transaction.atomic
def theme_dismiss(*, theme: Theme, user: Any) -> Theme:
    """A suggestion that is not a real problem: its tickets go back to the triage pool."""
    if theme.status != ThemeStatus.SUGGESTED:
        raise ThemeActionError(f"{theme.name!r} is not a suggestion")
    ticket_ids = list(theme.ticket_themes.values_list("ticket_id", flat=True))
    theme.ticket_themes.exclude(method=AssignmentMethod.MANUAL).delete()
    theme.status = ThemeStatus.DISMISSED
    theme.save(update_fields=["status", "updated_at"])
    _audit("dismiss", user=user, theme=theme, before={"status": "suggested"}, after={"status": "dismissed"})
    theme_stats_mark_dirty(ticket_ids=ticket_ids)
    return theme


@transaction.atomic
def theme_archive(*, theme: Theme, user: Any) -> Theme:
    """Retire a theme: it keeps its history but takes no new tickets and leaves the dashboards."""
    before = theme.status
    theme.status = ThemeStatus.ARCHIVED
    theme.save(update_fields=["status", "updated_at"])
    _audit("archive", user=user, theme=theme, before={"status": before}, after={"status": theme.status})
    theme_stats_mark_dirty(ticket_ids=list(theme.ticket_themes.values_list("ticket_id", flat=True)))
    return theme


@transaction.atomic
def theme_merge(*, themes: Sequence[Theme], into: Theme, user: Any) -> Theme:
    """Move every ticket of ``themes`` into ``into``; the merged themes point at it from now on.

    A ticket already in ``into`` keeps its row there (a manual row wins over a model one).
    """
    merged = [theme for theme in themes if theme.pk != into.pk]
    if not merged:
        raise ThemeActionError("Choose at least one other theme to merge")
    ticket_ids = list(TicketTheme.objects.filter(theme__in=merged).values_list("ticket_id", flat=True))
    already = set(into.ticket_themes.values_list("ticket_id", flat=True))
    for row in TicketTheme.objects.filter(theme__in=merged).order_by("-confidence"):
        if row.ticket_id in already:
            if row.method == AssignmentMethod.MANUAL:
                into.ticket_themes.filter(ticket_id=row.ticket_id).update(method=AssignmentMethod.MANUAL)
            row.delete()
            continue
        row.theme = into
        row.save(update_fields=["theme"])
        already.add(row.ticket_id)
    Theme.objects.filter(parent__in=merged).update(parent=into)
    Theme.objects.filter(pk__in=[t.pk for t in merged]).update(status=ThemeStatus.MERGED, merged_into=into)
    if into.status == ThemeStatus.SUGGESTED:
        into.status = ThemeStatus.ACTIVE
        into.save(update_fields=["status", "updated_at"])
    _audit("merge", user=user, theme=into, before={"themes": [t.name for t in merged]}, after={"into": into.name})
    theme_stats_mark_dirty(ticket_ids=ticket_ids)
    return into


@transaction.atomic
def theme_split(*, theme: Theme, parts: dict[str, Sequence[int]], user: Any) -> list[Theme]:
    """Split ``theme``: each named part becomes a new active theme taking the listed tickets.

    Tickets not listed stay in ``theme``; the new themes sit beside it under the same parent.
    """
    if not parts or any(not ticket_ids for ticket_ids in parts.values()):
        raise ThemeActionError("Each part of a split needs a name and at least one ticket")
    created: list[Theme] = []
    moved: list[int] = []
    for name, ticket_ids in parts.items():
        part = Theme.objects.create(
            name=_theme_name_valid(name), parent=theme.parent, status=ThemeStatus.ACTIVE, origin="manual",
            created_by=user if user and user.is_authenticated else None,
        )
        theme.ticket_themes.filter(ticket_id__in=ticket_ids).update(theme=part)
        created.append(part)
        moved.extend(ticket_ids)
    _audit("split", user=user, theme=theme, before={"name": theme.name},
           after={"parts": {p.name: len(parts[p.name]) for p in created}})
    theme_stats_mark_dirty(ticket_ids=moved)
    return created


# --- spikes -------------------------------------------------------------------------------------------

SPIKE_HISTORY_DAYS = 7 * 10


def spikes_check(*, on: date | None = None) -> list[SpikeAlert]:
    """Test every active theme for a spike ending on ``on`` (default today); alert new ones.

    At most one alert per spike: the alert row is unique per (theme, period, start day), and a
    spike that goes on for days keeps the start day it had when it was first raised.
    """
    on = on or timezone.localdate()
    first = on - timedelta(days=SPIKE_HISTORY_DAYS)
    per_theme: dict[int, list[tuple[date, int]]] = defaultdict(list)
    for row in (
        ThemeStat.objects.filter(day__range=(first, on), theme__status=ThemeStatus.ACTIVE)
        .values("theme_id", "day")
        .annotate(n=Sum("tickets"))
        .order_by()
    ):
        per_theme[row["theme_id"]].append((row["day"], row["n"]))
    totals = _daily_ticket_totals(first, on)
    since = Ticket.objects.aggregate(first=Min("created_at"))["first"]
    alerts = []
    for theme_id, counts in per_theme.items():
        result = detect_spike(counts, on=on, totals=totals, since=since.date() if since else None)
        alerted = SpikeAlert.objects.filter(theme_id=theme_id).values_list("start_date", flat=True)
        if is_new_spike(result, alerted):
            alerts.append(_spike_alert_raise(theme_id, result))
    return alerts


def _daily_ticket_totals(first: date, last: date) -> list[tuple[date, int]]:
    rows = (
        Ticket.objects.filter(created_at__date__range=(first, last))
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(n=Count("id"))
        .order_by()
    )
    return [(row["day"], row["n"]) for row in rows]


def _spike_alert_raise(theme_id: int, result: SpikeResult) -> SpikeAlert:
    from insights.tasks import notify_spike

    assert result.start_date is not None
    with transaction.atomic():
        alert, created = SpikeAlert.objects.get_or_create(
            theme_id=theme_id,
            period=result.period,
            start_date=result.start_date,
            defaults={"observed": result.observed, "expected": result.expected, "p_value": result.p_value},
        )
        if created:
            transaction.on_commit(lambda: notify_spike.delay(alert.pk))
    return alert


def spike_alert_notify(*, alert_id: int) -> SpikeAlert:
    """Send one alert to the configured email address and webhook (Slack-compatible JSON).

    Raises ``httpx.TransportError`` on a network failure so the task can retry; any other
    answer is recorded on the alert, which is never sent twice once ``notified_at`` is set.
    """
    alert = SpikeAlert.objects.select_related("theme").get(pk=alert_id)
    if alert.notified_at is not None:
        return alert
    text = spike_alert_text(alert)
    errors = []
    if settings.THREADLINE_ALERT_EMAIL:
        send_mail(f"Threadline: {alert.theme.name} is spiking", text, None, [settings.THREADLINE_ALERT_EMAIL])
    if settings.THREADLINE_ALERT_WEBHOOK_URL:
        with http_client() as client:
            response = client.post(settings.THREADLINE_ALERT_WEBHOOK_URL, json={"text": text})
        if response.is_error:
            errors.append(f"webhook answered {response.status_code}")
    alert.notified_at = timezone.now()
    alert.notify_error = "; ".join(errors)
    alert.save(update_fields=["notified_at", "notify_error"])
    return alert


def spike_alert_text(alert: SpikeAlert) -> str:
    period = "today" if alert.period == "day" else "over the last 7 days"
    return (
        f"{alert.theme.name}: {alert.observed} tickets {period}, about {alert.expected:.0f} expected "
        f"({alert.observed / max(alert.expected, 0.1):.1f}×), rising since {alert.start_date:%b %-d}."
    )


# --- representation ----------------------------------------------------------------------------------

VECTORISE_CHUNK = 5000

Progress = Callable[[int, int], None]


def representation_fit(
    *, backend: str | None = None, sample: int = 50_000, seed: int = 0, progress: Progress | None = None
) -> ModelVersion:
    """Fit the configured representation on (a sample of) the prepared texts, activate it and
    vectorise every ticket with it (``progress(done, total)`` after each chunk).

    Run when there is none yet (the first discovery does it) or deliberately, e.g. after the
    backend setting changed: vectors are otherwise never recomputed.
    """
    name = backend or settings.THREADLINE_REPRESENTATION
    options = {"model_path": settings.THREADLINE_MINILM_PATH or None} if name == "minilm" else {}
    texts = _texts_sample(sample, seed)
    representation = representation_create(name, **options).fit(texts)
    version = model_version_save(
        kind=ModelKind.REPRESENTATION, backend=name, artifact=representation,
        metrics={"fitted_on": len(texts)}, training_size=len(texts), activate=True,
    )
    analyses_vectorise(version=version, progress=progress)
    return version


def _texts_sample(size: int, seed: int) -> list[str]:
    """Up to ``size`` prepared texts, a seeded uniform sample, in ticket order."""
    ticket_ids = np.array(TicketAnalysis.objects.order_by("ticket_id").values_list("ticket_id", flat=True))
    if len(ticket_ids) > size:
        ticket_ids = np.sort(np.random.default_rng(seed).choice(ticket_ids, size=size, replace=False))
    texts: list[str] = []
    for chunk in _chunks(ticket_ids.tolist(), VECTORISE_CHUNK):
        texts.extend(
            TicketAnalysis.objects.filter(ticket_id__in=chunk).order_by("ticket_id").values_list("text", flat=True)
        )
    return texts


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def representation_ensure(*, progress: Progress | None = None) -> ModelVersion:
    return model_version_active(ModelKind.REPRESENTATION) or representation_fit(progress=progress)


def analyses_vectorise(*, version: ModelVersion, progress: Progress | None = None) -> int:
    """Give every analysis not yet in ``version`` its vector; returns how many were computed.

    Walks the analyses in ticket order (keyset pages: each page starts where the last ended,
    so no page re-reads the rows already done) and reads only the id and text.
    """
    representation = model_version_load(version)
    pending = TicketAnalysis.objects.exclude(representation_version=version)
    total = pending.count() if progress else 0
    done, after = 0, -1
    while True:
        page = list(
            pending.filter(ticket_id__gt=after).order_by("ticket_id").values_list("ticket_id", "text")[:VECTORISE_CHUNK]
        )
        if not page:
            return done
        ticket_ids, texts = (list(column) for column in zip(*page, strict=True))
        vectors = np.asarray(representation.transform(texts), dtype=VECTOR_DTYPE)
        _vectors_store(ticket_ids, vectors, version)
        done, after = done + len(page), ticket_ids[-1]
        if progress:
            progress(done, max(total, done))


def _vectors_store(ticket_ids: list[int], vectors: np.ndarray, version: ModelVersion) -> None:
    """Write one vector per ticket; on PostgreSQL one UPDATE … FROM unnest of two arrays."""
    blobs = [row.tobytes() for row in vectors]
    if connection.vendor == "postgresql":
        _execute_binary(  # the table name comes from the model, values are parameters
            f"UPDATE {TicketAnalysis._meta.db_table} AS a"  # noqa: S608
            " SET vector = r.v, representation_version_id = %b"
            " FROM unnest(%b::bigint[], %b::bytea[]) AS r(t, v) WHERE a.ticket_id = r.t",
            [version.pk, ticket_ids, blobs],
        )
        return
    TicketAnalysis.objects.bulk_update(
        [TicketAnalysis(ticket_id=t, vector=v, representation_version=version)
         for t, v in zip(ticket_ids, blobs, strict=True)],
        ["vector", "representation_version"],
    )


def _vectors_load(
    rows: Iterable[tuple[Any, ...]], *, expected: int = 0, progress: Progress | None = None
) -> tuple[np.ndarray, list[Any], np.ndarray]:
    """Rows of (ticket_id, [text,] vector bytes) → (ids, texts or [], vector matrix), read in chunks
    so that no per-row model instance and no second copy of the bytes is ever held."""
    ids: list[int] = []
    texts: list[Any] = []
    blocks: list[np.ndarray] = []
    iterator = iter(rows)
    while chunk := tuple(islice(iterator, LOAD_CHUNK)):
        ids.extend(row[0] for row in chunk)
        if len(chunk[0]) == 3:
            texts.extend(row[1] for row in chunk)
        joined = b"".join(bytes(row[-1]) for row in chunk)
        blocks.append(np.frombuffer(joined, dtype=VECTOR_DTYPE).reshape(len(chunk), -1))
        if progress:
            progress(len(ids), max(expected, len(ids)))
    vectors = np.vstack(blocks) if blocks else np.zeros((0, 0), dtype=VECTOR_DTYPE)
    return np.asarray(ids, dtype=np.int64), texts, vectors


# --- the assignment model ----------------------------------------------------------------------------

# Model assignments at least this confident count as labels when retraining; below it they are
# the model's own guesses and would only teach it its mistakes.
SELF_LABEL_CONFIDENCE = 0.9
RETRAIN_POOL = 5000
# Training rows per theme beyond people's own labels (all of which are always kept): discovery
# members and confident model assignments are sampled down to this many per theme, seeded.
# Training time grows with every row (two multinomial regressions, fitted twice for the
# calibration holdout), while a theme's linear models gain little past a hundred examples; at
# 100,000 tickets this bounds ~96,000 discovery rows to ~17,000 (bench/theming.py).
RETRAIN_PER_THEME = 100
REASSIGN_CHUNK = 2000
LOAD_CHUNK = 5000


def classifier_retrain(*, seed: int = 0) -> ModelVersion | None:
    """Train a new assignment model from the tickets of active themes, and activate it if its
    held-out accuracy is not worse than the active model's (or the set of themes changed).

    Labels are people's decisions (all of them, weighted up), discovery's members of accepted
    themes and the model's confident assignments (up to ``RETRAIN_PER_THEME`` of these per
    theme, a seeded sample). Returns the new version, or None when fewer than two active
    themes have tickets. An activated model re-assigns every ticket in the background.
    """
    label_rows = _training_label_rows()
    if not label_rows.exists():
        return None
    representation = representation_ensure()
    labels, manual = _training_labels(label_rows)
    chosen = _training_sample(labels, manual, per_theme=RETRAIN_PER_THEME, seed=seed)
    ticket_ids, texts, vectors = _analyses_vectors(chosen, representation)
    if len({theme for t in ticket_ids.tolist() for theme in labels[t]}) < 2:
        return None
    pool_ids, pool_texts, pool_vectors = _unlabelled_sample(representation, labelled=set(labels))
    is_manual = [t in manual for t in ticket_ids.tolist()]
    model = classifier_train(
        vectors, texts, [sorted(labels[t]) for t in ticket_ids.tolist()], seed=seed, manual=is_manual,
        pool_vectors=pool_vectors if len(pool_ids) else None, pool_texts=pool_texts if len(pool_ids) else None,
    )
    active = model_version_active(ModelKind.CLASSIFIER)
    activate = _classifier_should_replace(model.metrics, list(model.themes), active)
    version = model_version_save(
        kind=ModelKind.CLASSIFIER, backend=representation.backend, artifact=model,
        metrics={**model.metrics, "theme_keys": list(model.themes), "labelled_tickets": len(labels)},
        training_size=len(ticket_ids), manual_labels=sum(is_manual), activate=activate,
        note="" if activate else "kept the active model: this one was worse on held-out tickets",
    )
    if activate:
        transaction.on_commit(tickets_reassign_all)
    return version


def _training_label_rows() -> QuerySet[TicketTheme]:
    return TicketTheme.objects.filter(theme__status=ThemeStatus.ACTIVE).filter(
        Q(method__in=[AssignmentMethod.MANUAL, AssignmentMethod.DISCOVERY])
        | Q(method=AssignmentMethod.MODEL, confidence__gte=SELF_LABEL_CONFIDENCE)
    )


def _training_labels(rows: QuerySet[TicketTheme]) -> tuple[dict[int, set[str]], set[int]]:
    labels: dict[int, set[str]] = defaultdict(set)
    manual: set[int] = set()
    for ticket_id, theme_id, method in rows.values_list("ticket_id", "theme_id", "method").iterator():
        labels[ticket_id].add(str(theme_id))
        if method == AssignmentMethod.MANUAL:
            manual.add(ticket_id)
    return labels, manual


def _training_sample(labels: dict[int, set[str]], manual: set[int], *, per_theme: int, seed: int) -> list[int]:
    """Every manually labelled ticket, plus up to ``per_theme`` of the others per theme.

    Deterministic for the same labels and seed: themes and tickets are visited in sorted order
    with one seeded generator. A ticket sampled for one theme brings all its labels along.
    """
    by_theme: dict[str, list[int]] = defaultdict(list)
    for ticket_id in sorted(labels):
        if ticket_id not in manual:
            for theme in labels[ticket_id]:
                by_theme[theme].append(ticket_id)
    rng = np.random.default_rng(seed)
    chosen = set(manual)
    for theme in sorted(by_theme):
        candidates = by_theme[theme]
        if len(candidates) > per_theme:
            candidates = [candidates[i] for i in sorted(rng.choice(len(candidates), size=per_theme, replace=False))]
        chosen.update(candidates)
    return sorted(chosen)


def _analyses_vectors(
    ticket_ids: Sequence[int], representation: ModelVersion
) -> tuple[np.ndarray, list[str], np.ndarray]:
    """(ticket ids, texts, vectors) of those of ``ticket_ids`` vectorised by ``representation``,
    in ticket order, read as plain values in chunks."""
    def rows() -> Iterator[tuple[Any, ...]]:
        for chunk in _chunks(sorted(ticket_ids), LOAD_CHUNK):
            yield from TicketAnalysis.objects.filter(
                ticket_id__in=chunk, representation_version=representation, vector__isnull=False
            ).order_by("ticket_id").values_list("ticket_id", "text", "vector")

    return _vectors_load(rows())


def _unlabelled_sample(
    representation: ModelVersion, *, labelled: set[int]
) -> tuple[np.ndarray, list[str], np.ndarray]:
    """A seeded sample of tickets in the triage pool: unlabelled context for label spreading."""
    candidates = np.array(
        [
            ticket_id for ticket_id in TicketAnalysis.objects.filter(
                needs_triage=True, representation_version=representation
            ).order_by("ticket_id").values_list("ticket_id", flat=True).iterator(chunk_size=LOAD_CHUNK)
            if ticket_id not in labelled
        ],
        dtype=np.int64,
    )
    if len(candidates) > RETRAIN_POOL:
        candidates = np.random.default_rng(0).choice(candidates, size=RETRAIN_POOL, replace=False)
    return _analyses_vectors(candidates.tolist(), representation)


def _classifier_should_replace(metrics: dict[str, float], themes: list[str], active: ModelVersion | None) -> bool:
    if active is None or sorted(active.metrics.get("theme_keys", [])) != sorted(themes):
        return True  # a model that knows other themes cannot be compared; the newest knows the current ones
    return should_activate(metrics.get("holdout_accuracy", 0.0), active.metrics.get("holdout_accuracy"))


def tickets_reassign_all() -> None:
    """Queue re-assignment of every vectorised ticket with the active model, in chunks."""
    from insights.tasks import assign_tickets

    analysed = TicketAnalysis.objects.filter(vector__isnull=False).order_by("ticket_id")
    ticket_ids = list(analysed.values_list("ticket_id", flat=True))
    for start in range(0, len(ticket_ids), REASSIGN_CHUNK):
        assign_tickets.delay(ticket_ids[start : start + REASSIGN_CHUNK])


STRUCTURAL_CHANGES = ("accept", "create", "merge", "split", "archive", "dismiss")


def classifier_retrain_if_needed() -> ModelVersion | None:
    """Retrain when people changed the set of themes, or made enough corrections, since the
    active model was trained (``THREADLINE_RETRAIN_AFTER_CORRECTIONS``)."""
    from insights.models import ThemeChange

    active = model_version_active(ModelKind.CLASSIFIER)
    changes = ThemeChange.objects.all()
    if active is not None:
        changes = changes.filter(created_at__gt=active.created_at)
    structural = changes.filter(action__in=STRUCTURAL_CHANGES).exists()
    corrections = changes.filter(action__in=["retag", "confirm"]).count()
    if active is not None and not structural and corrections < settings.THREADLINE_RETRAIN_AFTER_CORRECTIONS:
        return None
    return classifier_retrain()


# --- discovery ---------------------------------------------------------------------------------------

DISCOVERY_MAX_POOL = 100_000


def discovery_run_queue() -> DiscoveryRun:
    """Create a discovery run in the ``queued`` phase and hand it to a worker after commit, so
    the caller has its id to follow its progress (``DiscoveryRun.phase`` …)."""
    from insights.tasks import discover_themes

    run = DiscoveryRun.objects.create(phase=DiscoveryPhase.QUEUED)
    transaction.on_commit(lambda: discover_themes.delay(run.pk))
    return run


def discovery_run(*, seed: int = 0, run_id: int | None = None) -> DiscoveryRun:
    """Discover themes in the triage pool (tickets nothing explains well) and propose them.

    Existing themes keep their ids and names: their centroids go into discovery, which leaves
    them the tickets they explain and clusters only the rest. Genuinely new clusters become
    suggested themes for a support lead; the run's report says what was kept, what is new and
    which themes look like they should be merged or split.

    ``run_id`` continues a run made by ``discovery_run_queue``; without it a new run is made.
    The run's ``phase`` and ``progress_done`` / ``progress_total`` follow the work as it goes.
    """
    run = DiscoveryRun.objects.get(pk=run_id) if run_id is not None else DiscoveryRun.objects.create()
    if run.status != DiscoveryRunStatus.RUNNING:
        return run  # a redelivered task for a run that already ended
    if not TicketAnalysis.objects.exclude(text="").exists():
        run.status, run.finished_at, run.phase = DiscoveryRunStatus.SUCCEEDED, timezone.now(), DiscoveryPhase.DONE
        run.report = {"pool": 0, "new": [], "kept": {}, "merge": [], "split": []}
        run.save(update_fields=["status", "finished_at", "report", "phase"])
        return run
    try:
        representation = representation_ensure(progress=_run_progress(run, DiscoveryPhase.VECTORISING))
        _theme_centroids_refresh(representation)
        report = _discover_and_propose(run, representation, seed)
    except Exception as exc:
        run.status, run.failure, run.finished_at = DiscoveryRunStatus.FAILED, str(exc), timezone.now()
        run.phase, run.progress_updated_at = DiscoveryPhase.FAILED, timezone.now()
        run.save(update_fields=["status", "failure", "finished_at", "phase", "progress_updated_at"])
        raise
    run.status, run.report, run.finished_at = DiscoveryRunStatus.SUCCEEDED, report, timezone.now()
    run.phase, run.progress_done, run.progress_total = DiscoveryPhase.DONE, run.pool_size, run.pool_size
    run.progress_updated_at = timezone.now()
    run.save(update_fields=[
        "status", "report", "finished_at", "pool_size", "phase", "progress_done", "progress_total",
        "progress_updated_at",
    ])
    return run


def _run_progress(run: DiscoveryRun, phase: str) -> Progress:
    """A ``progress(done, total)`` callback that records ``phase`` on ``run`` as it goes.

    A single-row UPDATE: when the run is not inside a transaction (the worker's case) each call
    is visible to a polling page at once.
    """
    def report(done: int, total: int) -> None:
        run.phase, run.progress_done, run.progress_total = phase, done, total
        run.progress_updated_at = timezone.now()
        DiscoveryRun.objects.filter(pk=run.pk).update(
            phase=phase, progress_done=done, progress_total=total, progress_updated_at=run.progress_updated_at
        )

    return report


def _discover_and_propose(run: DiscoveryRun, representation: ModelVersion, seed: int) -> dict[str, Any]:
    existing = {
        str(pk): np.frombuffer(bytes(centroid or b""), dtype=VECTOR_DTYPE)
        for pk, centroid in Theme.objects.filter(
            status__in=[ThemeStatus.ACTIVE, ThemeStatus.SUGGESTED],
            centroid__isnull=False,
            centroid_representation=str(representation.pk),
        ).values_list("pk", "centroid")
    }
    pool = (
        TicketAnalysis.objects.filter(needs_triage=True, representation_version=representation, vector__isnull=False)
        .exclude(text="")
    )
    expected = min(pool.count(), DISCOVERY_MAX_POOL)
    loading = _run_progress(run, DiscoveryPhase.LOADING)
    loading(0, expected)
    rows = pool.order_by("-ticket_id").values_list("ticket_id", "text", "vector")[:DISCOVERY_MAX_POOL]
    ticket_ids, texts, vectors = _vectors_load(rows.iterator(chunk_size=LOAD_CHUNK), expected=expected,
                                               progress=loading)
    run.pool_size = len(ticket_ids)
    if not len(ticket_ids):
        return {"pool": 0, "new": [], "kept": {}, "merge": [], "split": []}
    DiscoveryRun.objects.filter(pk=run.pk).update(pool_size=run.pool_size)
    # The clustering reports no count (it is one library call): a page shows the phase, not "0 of N".
    _run_progress(run, DiscoveryPhase.CLUSTERING)(0, 0)
    result = discover(vectors, texts, seed=seed, existing=existing or None)
    del texts
    created = _suggestions_create(run, representation, ticket_ids, vectors, result)
    _run_progress(run, DiscoveryPhase.REPORTING)(0, 1)
    matches = match_to_existing(result, existing) if existing else None
    return {
        "pool": len(ticket_ids),
        "n_themes": result.n_themes,
        "new": [{"id": theme.pk, "name": theme.name, "size": theme.suggested_size} for theme in created],
        "kept": {t.existing_id: t.size for t in result.themes if t.existing_id is not None},
        "merge": [list(ids) for _, ids in matches.merges] if matches else [],
        "split": list(matches.splits) if matches else [],
        "unthemed": int((result.labels < 0).sum()),
    }


def _suggestions_create(
    run: DiscoveryRun, representation: ModelVersion, ticket_ids: np.ndarray, vectors: np.ndarray, result: Discovery
) -> list[Theme]:
    """One suggested theme per new cluster (under a suggested broad area when it has one), with
    its members recorded as discovery assignments so a reviewer sees its size and examples.

    Themes and members are written in one transaction; members as three arrays (ticket, theme,
    confidence), never as one Python object per row."""
    new = [found for found in result.themes if found.existing_id is None]
    _run_progress(run, DiscoveryPhase.ASSIGNING)(0, len(new))
    areas: dict[int, Theme] = {}
    created: list[Theme] = []
    member_tickets: list[np.ndarray] = []
    member_themes: list[np.ndarray] = []
    member_confidences: list[np.ndarray] = []
    with transaction.atomic():
        for found in new:
            parent = None
            if found.parent >= 0 and result.areas:
                if found.parent not in areas:
                    area = result.areas[found.parent]
                    areas[found.parent] = Theme.objects.create(
                        name=area.name, keywords=list(area.keywords), status=ThemeStatus.SUGGESTED,
                        discovery_run=run,
                    )
                parent = areas[found.parent]
            members = np.flatnonzero(result.labels == found.index)
            centroid = np.asarray(found.centroid, dtype=VECTOR_DTYPE)
            theme = Theme.objects.create(
                name=found.name, keywords=list(found.keywords), parent=parent, status=ThemeStatus.SUGGESTED,
                centroid=centroid.tobytes(), centroid_representation=str(representation.pk),
                example_ticket_ids=[int(ticket_ids[i]) for i in found.examples], suggested_size=len(members),
                discovery_run=run,
            )
            member_tickets.append(ticket_ids[members])
            member_themes.append(np.full(len(members), theme.pk, dtype=np.int64))
            member_confidences.append(np.clip(vectors[members] @ centroid, 0.0, 1.0).astype(np.float64))
            created.append(theme)
        if created:
            _discovery_members_insert(
                np.concatenate(member_tickets), np.concatenate(member_themes), np.concatenate(member_confidences)
            )
    return created


def _discovery_members_insert(tickets: np.ndarray, themes: np.ndarray, confidences: np.ndarray) -> None:
    if connection.vendor == "postgresql":
        _ticket_themes_insert_postgres(
            tickets.tolist(), themes.tolist(), confidences.tolist(), method=AssignmentMethod.DISCOVERY, version=None,
            ignore_conflicts=True,
        )
        return
    TicketTheme.objects.bulk_create(
        (
            TicketTheme(ticket_id=t, theme_id=th, confidence=c, method=AssignmentMethod.DISCOVERY)
            for t, th, c in zip(tickets.tolist(), themes.tolist(), confidences.tolist(), strict=True)
        ),
        ignore_conflicts=True, batch_size=LOAD_CHUNK,
    )


def _theme_centroids_refresh(representation: ModelVersion) -> None:
    """Recompute each active theme's centroid from its tickets' current vectors.

    One sparse (themes × tickets) membership product over the members' vectors, read as plain
    values: no model instance per ticket."""
    pairs = np.array(
        TicketTheme.objects.filter(theme__status=ThemeStatus.ACTIVE).values_list("theme_id", "ticket_id"),
        dtype=np.int64,
    ).reshape(-1, 2)
    if not len(pairs):
        return
    members = TicketTheme.objects.filter(theme__status=ThemeStatus.ACTIVE).values("ticket_id")
    rows = (
        TicketAnalysis.objects.filter(
            representation_version=representation, vector__isnull=False, ticket_id__in=members
        ).order_by("ticket_id").values_list("ticket_id", "vector")
    )
    ticket_ids, _, vectors = _vectors_load(rows.iterator(chunk_size=LOAD_CHUNK))
    if not len(ticket_ids):
        return
    position = np.searchsorted(ticket_ids, pairs[:, 1])
    position = np.minimum(position, len(ticket_ids) - 1)
    known = ticket_ids[position] == pairs[:, 1]
    theme_keys, theme_index = np.unique(pairs[known, 0], return_inverse=True)
    membership = sp.csr_matrix(
        (np.ones(int(known.sum()), dtype=VECTOR_DTYPE), (theme_index, position[known])),
        shape=(len(theme_keys), len(ticket_ids)),
    )
    counts = np.asarray(membership.sum(axis=1), dtype=VECTOR_DTYPE)
    centroids = np.asarray(membership @ vectors) / counts
    norms = np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-12)
    centroids = (centroids / norms).astype(VECTOR_DTYPE)
    updated = [
        Theme(pk=int(pk), centroid=centroid.tobytes(), centroid_representation=str(representation.pk))
        for pk, centroid in zip(theme_keys.tolist(), centroids, strict=True)
    ]
    Theme.objects.bulk_update(updated, ["centroid", "centroid_representation"])
