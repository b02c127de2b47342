"""Writes of the roadmap app: backlog items and their theme links, escalations raised to product.

Every change to an escalation writes one ``EscalationChange`` row, and every change to a backlog
item (created, edited, status, theme linked or unlinked) one ``BacklogItemChange`` row — who,
when, before, after — in the same transaction, so the histories are complete by construction.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable, Sequence
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Count, F, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from insights.models import Theme, ThemeStatus, TicketTheme
from insights.selectors import Period
from roadmap.models import (
    BacklogDemandBuild,
    BacklogDemandDay,
    BacklogDemandSnapshot,
    BacklogItem,
    BacklogItemChange,
    BacklogItemKind,
    BacklogItemStatus,
    Escalation,
    EscalationChange,
    EscalationSeverity,
    EscalationStatus,
    ThemeLink,
)
from roadmap.selectors import (
    SNAPSHOT_DAYS,
    backlog_demand_from_rollup,
    backlog_item_theme_sets,
    shipped_item_tag_targets,
)
from tickets.connectors.base import ConnectorError
from tickets.connectors.registry import connector_for
from tickets.crypto import SecretsUnreadable, secrets_decrypt
from tickets.models import Ticket


class EscalationError(ValueError):
    """An escalation action that cannot be done as asked; the message says why."""


def _person(user: Any) -> Any:
    return user if user is not None and user.is_authenticated else None


def _change(
    escalation: Escalation, *, user: Any, action: str, before: str = "", after: str = "", note: str = ""
) -> None:
    EscalationChange.objects.create(
        escalation=escalation, user=_person(user), action=action, before=before[:300], after=after[:300], note=note
    )


@transaction.atomic
def escalation_raise(
    *, user: Any, severity: str, note: str, ticket: Ticket | None = None, theme: Theme | None = None
) -> Escalation:
    """Raise a ticket or a whole theme (exactly one of them) to product with a severity and a note."""
    if (ticket is None) == (theme is None):
        raise EscalationError("Escalate either a ticket or a theme")
    if theme is not None and theme.status in {ThemeStatus.MERGED, ThemeStatus.DISMISSED}:
        raise EscalationError(f"{theme.name!r} is {theme.get_status_display().lower()}; escalate the theme it became")
    note = note.strip()
    if not note:
        raise EscalationError("Say what product should know: the note is what they read first")
    if severity not in EscalationSeverity.values:
        raise EscalationError(f"Unknown severity {severity!r}")
    escalation = Escalation.objects.create(
        ticket=ticket, theme=theme, severity=severity, note=note, raised_by=_person(user)
    )
    _change(escalation, user=user, action="raised", after=escalation.get_severity_display(), note=note)
    return escalation


@transaction.atomic
def escalation_update(
    *, escalation: Escalation, user: Any, status: str | None = None, severity: str | None = None, note: str = ""
) -> Escalation:
    """Change the status and/or severity, with an optional note; each change is one history row.

    A note given without any change is recorded as a comment. Returns the escalation as saved.
    """
    if status is not None and status not in EscalationStatus.values:
        raise EscalationError(f"Unknown status {status!r}")
    if severity is not None and severity not in EscalationSeverity.values:
        raise EscalationError(f"Unknown severity {severity!r}")
    note = note.strip()
    changed: list[str] = []
    if status is not None and status != escalation.status:
        before = escalation.get_status_display()
        escalation.status = status
        _change(escalation, user=user, action="status", before=before, after=escalation.get_status_display(),
                note=note)
        changed.append("status")
    if severity is not None and severity != escalation.severity:
        before = escalation.get_severity_display()
        escalation.severity = severity
        _change(escalation, user=user, action="severity", before=before, after=escalation.get_severity_display(),
                note="" if changed else note)
        changed.append("severity")
    if changed:
        escalation.save(update_fields=[*changed, "updated_at"])
    elif note:
        _change(escalation, user=user, action="note", note=note)
        escalation.save(update_fields=["updated_at"])
    else:
        raise EscalationError("Nothing to change: pick a new status or severity, or write a note")
    return escalation


@transaction.atomic
def escalation_link(*, escalation: Escalation, item: BacklogItem | None, user: Any, note: str = "") -> Escalation:
    """Link the escalation to a backlog item (or unlink it with ``item=None``).

    Linking an open escalation also acknowledges it: product has decided where it goes.
    """
    previous = escalation.backlog_item
    if (previous.pk if previous else None) == (item.pk if item else None):
        raise EscalationError("The escalation is already linked that way")
    escalation.backlog_item = item
    fields = ["backlog_item", "updated_at"]
    if item is not None:
        _change(escalation, user=user, action="linked", before=previous.title if previous else "",
                after=item.title, note=note.strip())
        if escalation.status == EscalationStatus.OPEN:
            escalation.status = EscalationStatus.ACKNOWLEDGED
            _change(escalation, user=user, action="status", before=EscalationStatus.OPEN.label,
                    after=EscalationStatus.ACKNOWLEDGED.label)
            fields.append("status")
    else:
        _change(escalation, user=user, action="unlinked", before=previous.title if previous else "",
                note=note.strip())
    escalation.save(update_fields=fields)
    return escalation


# --- backlog items ------------------------------------------------------------------------------


class BacklogError(ValueError):
    """A backlog action that cannot be done as asked; the message says why."""


_UNSET: Any = object()
_UNLINKABLE = {ThemeStatus.MERGED, ThemeStatus.DISMISSED}


def _item_change(
    item: BacklogItem, *, user: Any, action: str, before: str = "", after: str = "", note: str = ""
) -> None:
    BacklogItemChange.objects.create(
        item=item, user=_person(user), action=action, before=before[:300], after=after[:300], note=note
    )


def _title_valid(title: str) -> str:
    title = " ".join(title.split())
    if not title:
        raise BacklogError("Give the item a title: it is what the board shows")
    if len(title) > 300:
        raise BacklogError("Keep the title under 300 characters; the description takes the rest")
    return title


@transaction.atomic
def backlog_item_create(
    *,
    user: Any,
    title: str,
    description: str = "",
    kind: str = BacklogItemKind.FEATURE,
    status: str = BacklogItemStatus.IDEA,
    owner: Any = None,
    target_date: dt.date | None = None,
    external_key: str = "",
    external_url: str = "",
    shipped_at: dt.datetime | None = None,
    themes: list[Theme] | None = None,
    note: str = "",
) -> BacklogItem:
    """Create an item, optionally linked at once to the themes it answers (``note`` says why)."""
    if kind not in BacklogItemKind.values:
        raise BacklogError(f"Unknown kind {kind!r}")
    if status not in BacklogItemStatus.values:
        raise BacklogError(f"Unknown status {status!r}")
    shipped_at = (shipped_at or timezone.now()) if status == BacklogItemStatus.SHIPPED else None
    item = BacklogItem.objects.create(
        title=_title_valid(title), description=description.strip(), kind=kind, status=status, owner=owner,
        target_date=target_date, external_key=external_key.strip(), external_url=external_url.strip(),
        shipped_at=shipped_at, created_by=_person(user),
    )
    _item_change(item, user=user, action="created", after=item.get_status_display())
    for theme in themes or []:
        theme_link_create(item=item, theme=theme, user=user, note=note)
    return item


_EDITABLE = ("title", "description", "kind", "owner", "target_date", "external_key", "external_url")


@transaction.atomic
def backlog_item_update(
    *,
    item: BacklogItem,
    user: Any,
    title: str | None = None,
    description: str | None = None,
    kind: str | None = None,
    status: str | None = None,
    owner: Any = _UNSET,
    target_date: Any = _UNSET,
    external_key: str | None = None,
    external_url: str | None = None,
    shipped_at: dt.datetime | None = None,
    note: str = "",
) -> BacklogItem:
    """Edit any of the given fields and/or move the item to another status.

    Marking an item shipped sets ``shipped_at`` (now, or the given time: a fix that shipped last
    week); moving it out of shipped clears it. A status change is one history row, an edit of
    other fields one more (listing what changed). Returns the item as saved.
    """
    if kind is not None and kind not in BacklogItemKind.values:
        raise BacklogError(f"Unknown kind {kind!r}")
    if status is not None and status not in BacklogItemStatus.values:
        raise BacklogError(f"Unknown status {status!r}")
    wanted: dict[str, Any] = {
        "title": _title_valid(title) if title is not None else None,
        "description": description.strip() if description is not None else None,
        "kind": kind,
        "owner": owner,
        "target_date": target_date,
        "external_key": external_key.strip() if external_key is not None else None,
        "external_url": external_url.strip() if external_url is not None else None,
    }
    edited: list[str] = []
    for field in _EDITABLE:
        value = wanted[field]
        if (value is None and field not in ("owner", "target_date")) or value is _UNSET:
            continue
        if getattr(item, field) != value:
            setattr(item, field, value)
            edited.append(field)
    fields = list(edited)
    if status is not None and status != item.status:
        before = item.get_status_display()
        item.status = status
        item.shipped_at = (shipped_at or timezone.now()) if status == BacklogItemStatus.SHIPPED else None
        fields += ["status", "shipped_at"]
        _item_change(item, user=user, action="status", before=before, after=item.get_status_display(), note=note)
    elif shipped_at is not None and item.status == BacklogItemStatus.SHIPPED and shipped_at != item.shipped_at:
        before = f"{item.shipped_at:%Y-%m-%d}" if item.shipped_at else ""
        item.shipped_at = shipped_at
        fields.append("shipped_at")
        _item_change(item, user=user, action="shipped_at", before=before, after=f"{shipped_at:%Y-%m-%d}")
    if edited:
        _item_change(item, user=user, action="edited", after=", ".join(f.replace("_", " ") for f in edited))
    if not fields:
        raise BacklogError("Nothing to change")
    try:
        with transaction.atomic():
            item.save(update_fields=[*fields, "updated_at"])
    except IntegrityError:  # (backlog_source, external_key) is unique: a synced item's key was reused
        raise BacklogError(f"Another item from this tracker already has the key {item.external_key!r}") from None
    return item


@transaction.atomic
def theme_link_create(*, item: BacklogItem, theme: Theme, user: Any, note: str = "") -> ThemeLink:
    """Count a theme (and, for a broad area, all its sub-themes) as demand for the item."""
    if theme.status in _UNLINKABLE:
        raise BacklogError(f"{theme.name!r} is {theme.get_status_display().lower()}; link the theme it became")
    if ThemeLink.objects.filter(item=item, theme=theme).exists():
        raise BacklogError(f"{theme.name!r} is already linked to {item.title!r}")
    try:
        with transaction.atomic():
            link = ThemeLink.objects.create(item=item, theme=theme, linked_by=_person(user), note=note.strip())
    except IntegrityError:  # a concurrent request linked it first
        raise BacklogError(f"{theme.name!r} is already linked to {item.title!r}") from None
    _item_change(item, user=user, action="theme_linked", after=theme.name, note=note.strip())
    item.save(update_fields=["updated_at"])
    backlog_demand_rebuild(item_ids=[item.pk])
    return link


@transaction.atomic
def theme_link_delete(*, link: ThemeLink, user: Any, note: str = "") -> None:
    """Stop counting a theme as demand for the item; the history keeps who did it and why."""
    item, name = link.item, link.theme.name
    link.delete()
    _item_change(item, user=user, action="theme_unlinked", before=name, note=note.strip())
    item.save(update_fields=["updated_at"])
    backlog_demand_rebuild(item_ids=[item.pk])


# --- the board's demand rollup (``BacklogDemandDay``) -----------------------------------------------


def backlog_demand_rebuild(*, item_ids: Sequence[int] | None = None) -> int:
    """Rebuild the demand rollup of these items (all items: None) over every day, from the themes
    they count now, and record those themes. Locks the items' rows first, so a concurrent refresh
    of some days waits instead of adding the same rows twice. Returns how many items were rebuilt."""
    with transaction.atomic():
        items = BacklogItem.objects.select_for_update().order_by("pk")
        locked = list((items.filter(pk__in=list(item_ids)) if item_ids is not None else items)
                      .values_list("pk", flat=True))
        BacklogDemandDay.objects.filter(item_id__in=locked).delete()
        themes = backlog_item_theme_sets(item_ids=locked)
        for item_id in locked:
            _demand_rows_insert(item_id, themes.get(item_id, set()), _rows_by_day(themes.get(item_id, set())))
        _builds_record(locked, themes)
        backlog_demand_snapshot_refresh(item_ids=locked)
    return len(locked)


# Under steady ingest the statistics refresh runs after every batch: the snapshot is recomputed at
# most this often then (and by the periodic refresh at the latest).
SNAPSHOT_MIN_INTERVAL = dt.timedelta(seconds=60)


def backlog_demand_snapshot_refresh(*, item_ids: Sequence[int] | None = None,
                                    min_interval: dt.timedelta | None = None) -> int:
    """Recompute the preset periods' demand up to today from the rollup, for the items (all: None)
    whose rollup is built from the themes they count now; the others keep no snapshot and are read
    from elsewhere (see ``roadmap.selectors._demand_of_items``). With ``min_interval``, only if
    the snapshot is not all of today or older than that. Returns how many items were computed."""
    today = timezone.localdate()
    if min_interval is not None and _snapshot_recent(today, min_interval):
        return 0
    themes = backlog_item_theme_sets(item_ids=item_ids)
    built = dict(BacklogDemandBuild.objects.filter(item_id__in=list(themes)).values_list("item_id", "themes"))
    rolled = {pk: item_themes for pk, item_themes in themes.items() if built.get(pk) == sorted(item_themes)}
    rows = []
    for days in SNAPSHOT_DAYS:
        period = Period(start=today - dt.timedelta(days=days - 1), end=today)
        for pk, demand in backlog_demand_from_rollup(item_themes=rolled, period=period, cached=False).items():
            rows.append(BacklogDemandSnapshot(
                item_id=pk, days=days, as_of=today, themes=sorted(rolled[pk]), tickets=demand.tickets,
                customers=demand.customers, organizations=demand.organizations, arr=demand.arr,
                previous_tickets=demand.previous_tickets, previous_customers=demand.previous_customers,
            ))
    with transaction.atomic():
        stale = BacklogDemandSnapshot.objects.all()
        stale = stale.filter(item_id__in=list(item_ids)) if item_ids is not None else stale
        stale.delete()
        BacklogDemandSnapshot.objects.bulk_create(rows)
    return len(rolled)


def _snapshot_recent(today: dt.date, min_interval: dt.timedelta) -> bool:
    snapshots = BacklogDemandSnapshot.objects.all()
    return (snapshots.exists() and not snapshots.exclude(as_of=today).exists()
            and not snapshots.filter(computed_at__lt=timezone.now() - min_interval).exists())


def backlog_demand_refresh_days(*, days: Sequence[dt.date]) -> None:
    """Rebuild the rollup of these days for every item, in the caller's transaction (the statistics
    refresh, which claimed the days). An item whose counted themes changed since its rows were
    built (a theme moved under a linked area, say) is rebuilt whole instead."""
    if not days:
        return
    items = list(BacklogItem.objects.select_for_update().order_by("pk").values_list("pk", flat=True))
    themes = backlog_item_theme_sets(item_ids=items)
    built = dict(BacklogDemandBuild.objects.filter(item_id__in=items).values_list("item_id", "themes"))
    current = [pk for pk in items if built.get(pk) == sorted(themes.get(pk, set()))]
    outdated = sorted(set(items) - set(current))
    BacklogDemandDay.objects.filter(item_id__in=current, day__in=list(days)).delete()
    for item_id in current:
        _demand_rows_insert(item_id, themes.get(item_id, set()), _rows_by_day(themes.get(item_id, set()), days))
    if outdated:
        backlog_demand_rebuild(item_ids=outdated)


def _rows_by_day(themes: set[int], days: Sequence[dt.date] | None = None) -> QuerySet[Any]:
    """The item's distinct tickets per (day, requester, organization): of the given days, or all."""
    rows = TicketTheme.objects.filter(theme_id__in=sorted(themes))
    if days is not None:
        # The created_at range lets the ticket index narrow the scan; the day list makes it exact.
        first, _ = Period(start=min(days), end=min(days)).bounds()
        _, last = Period(start=max(days), end=max(days)).bounds()
        rows = rows.filter(ticket__created_at__gte=first, ticket__created_at__lt=last)
    rows = rows.annotate(day=TruncDate("ticket__created_at"), requester=F("ticket__requester_id"),
                         organization=F("ticket__organization_id"))
    if days is not None:
        rows = rows.filter(day__in=list(days))
    return rows.values("day", "requester", "organization").annotate(n=Count("ticket_id", distinct=True)).order_by()


def _demand_rows_insert(item_id: int, themes: set[int], rows: QuerySet[Any]) -> None:
    """INSERT … SELECT: the rows never pass through Python (an area's history is many thousands)."""
    if not themes:
        return
    select, params = rows.query.sql_with_params()
    table = BacklogDemandDay._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (item_id, day, requester_id, organization_id, tickets)"  # noqa: S608
            f" SELECT %s, q.day, q.requester, q.organization, q.n FROM ({select}) q",
            [item_id, *params],
        )


def _builds_record(item_ids: list[int], themes: dict[int, set[int]]) -> None:
    BacklogDemandBuild.objects.filter(item_id__in=item_ids).delete()
    BacklogDemandBuild.objects.bulk_create(
        BacklogDemandBuild(item_id=pk, themes=sorted(themes.get(pk, set()))) for pk in item_ids
    )


# --- closing the loop: tagging a shipped item's tickets in the help desk --------------------------

# Help desks take tags without spaces; Zendesk lowercases them and allows letters, digits, - _ : / .
TAG_RE = re.compile(r"[a-z0-9][a-z0-9_\-:/.]{0,79}")


def shipped_item_default_tag(*, item: BacklogItem) -> str:
    return f"threadline-shipped-{item.pk}"


def shipped_item_tag_valid(*, item: BacklogItem, tag: str) -> str:
    """The tag as the help desk will store it; ``BacklogError`` when it cannot be written back."""
    if item.status != BacklogItemStatus.SHIPPED or item.shipped_at is None:
        raise BacklogError("Only a shipped item's tickets can be tagged: mark it shipped first")
    tag = tag.strip().lower()
    if not TAG_RE.fullmatch(tag):
        raise BacklogError(
            "A tag is one word of up to 80 letters, digits, dashes or underscores, e.g. "
            f"{shipped_item_default_tag(item=item)}"
        )
    return tag


def shipped_item_tag_back(
    *, item: BacklogItem, tag: str, user: Any, sleep: Callable[[float], None] = time.sleep
) -> dict[str, int | str]:
    """Write ``tag`` to the shipped item's affected tickets in each help desk whose connector can.

    Returns, by source name, the number of tickets tagged, or a sentence saying why that source's
    tickets were not (its connector cannot tag, the help desk refused, the credentials are unreadable).
    Each source that was tagged gets one history row on the item. Running it again is harmless:
    a help desk keeps a tag once however often it is added. No transaction is held while the help
    desks answer.
    """
    tag = shipped_item_tag_valid(item=item, tag=tag)
    outcome: dict[str, int | str] = {}
    for target in shipped_item_tag_targets(item=item):
        source = target.source
        if not target.supported:
            outcome[source.name] = f"{source.get_kind_display()} sources cannot be tagged from Threadline"
            continue
        tag_tickets = connector_for(source.kind).tag_tickets
        assert tag_tickets is not None
        try:
            credentials = secrets_decrypt(source.credentials_encrypted)
            count = tag_tickets(source.settings, credentials, target.external_ids, tag, sleep=sleep)
        except SecretsUnreadable:
            outcome[source.name] = "the stored credentials cannot be decrypted; an admin must enter them again"
            continue
        except ConnectorError as exc:
            outcome[source.name] = str(exc)
            continue
        outcome[source.name] = count
        with transaction.atomic():
            _item_change(item, user=user, action="tagged",
                         after=f"{count} ticket{'s' if count != 1 else ''} in {source.name} with {tag}")
    return outcome


def shipped_item_tag_back_queue(*, item: BacklogItem, tag: str, user: Any) -> Any:
    """Queue ``shipped_item_tag_back`` on the ``ingest`` queue once the current transaction commits.

    Raises ``BacklogError`` at once for an unshipped item or a malformed tag. Returns the task's result
    handle when the task already ran (tasks run inline in the embedded setup), else None.
    """
    from config.dispatch import task_dispatch
    from roadmap.tasks import tag_back_shipped_item

    tag = shipped_item_tag_valid(item=item, tag=tag)
    user_id = user.pk if user is not None and user.is_authenticated else None
    queued: list[Any] = []
    transaction.on_commit(lambda: queued.append(task_dispatch(tag_back_shipped_item, item.pk, tag, user_id)))
    return queued[0] if queued else None
