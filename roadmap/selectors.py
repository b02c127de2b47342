"""Reads of the roadmap app: escalations, backlog items with their demand, ship impact, and the
demand no open item addresses."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import (
    Case,
    Count,
    Exists,
    IntegerField,
    Max,
    OuterRef,
    Prefetch,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.functions import TruncDate
from django.utils import timezone

from insights.models import Theme, ThemeStat, ThemeStatus, TicketTheme
from insights.selectors import Period
from roadmap.impact import Impact, Week, ship_impact
from roadmap.models import (
    CLOSED_STATUSES,
    BacklogDemandBuild,
    BacklogDemandDay,
    BacklogDemandSnapshot,
    BacklogItem,
    BacklogItemChange,
    BacklogItemStatus,
    Escalation,
    EscalationChange,
    EscalationSeverity,
    EscalationStatus,
    ThemeLink,
)
from tickets.connectors.base import ConfigurationError
from tickets.connectors.registry import connector_for
from tickets.models import AuthorRole, Message, Organization, Source, Ticket

# Statuses that still need someone's attention: the list's default view.
ACTIVE_STATUSES = (EscalationStatus.OPEN, EscalationStatus.ACKNOWLEDGED)
_SEVERITY_RANK = Case(
    *(When(severity=value, then=Value(rank)) for rank, value in enumerate(reversed(EscalationSeverity.values))),
    output_field=IntegerField(),
)


def _escalations() -> QuerySet[Escalation]:
    return Escalation.objects.select_related(
        "ticket", "ticket__source", "ticket__organization", "theme", "raised_by", "backlog_item"
    )


def escalation_list(
    *, status: str = "active", severity: str = "", subject: str = "", raised_by: int | None = None, linked: str = ""
) -> QuerySet[Escalation]:
    """Escalations matching the filters, most severe first, then newest, with what a row shows
    in one query. ``status`` is a status value, ``"active"`` (open or acknowledged) or ``""`` (all);
    ``subject`` is ``"ticket"`` or ``"theme"``; ``linked`` is ``"yes"`` or ``"no"``."""
    escalations = _escalations()
    if status == "active":
        escalations = escalations.filter(status__in=ACTIVE_STATUSES)
    elif status:
        escalations = escalations.filter(status=status)
    if severity:
        escalations = escalations.filter(severity=severity)
    if subject == "ticket":
        escalations = escalations.filter(ticket__isnull=False)
    elif subject == "theme":
        escalations = escalations.filter(theme__isnull=False)
    if raised_by is not None:
        escalations = escalations.filter(raised_by_id=raised_by)
    if linked == "yes":
        escalations = escalations.filter(backlog_item__isnull=False)
    elif linked == "no":
        escalations = escalations.filter(backlog_item__isnull=True)
    return escalations.annotate(severity_rank=_SEVERITY_RANK).order_by("severity_rank", "-created_at", "-id")


def escalation_status_counts() -> dict[str, int]:
    """How many escalations are in each status (and ``active``, ``all``), in one query."""
    counts = {row["status"]: row["n"] for row in Escalation.objects.values("status").annotate(n=Count("id")).order_by()}
    result = {value: counts.get(value, 0) for value in EscalationStatus.values}
    result["active"] = sum(result[value] for value in ACTIVE_STATUSES)
    result["all"] = sum(counts.values())
    return result


def escalation_raisers() -> QuerySet[Any]:
    """The people who raised at least one escalation, for the list's filter."""
    raisers = Escalation.objects.values("raised_by")
    return get_user_model().objects.filter(pk__in=raisers).order_by("first_name", "email")


def escalation_detail(*, escalation_id: int) -> Escalation:
    """One escalation with its subject and history (oldest first); raises Escalation.DoesNotExist."""
    return _escalations().prefetch_related(
        Prefetch("changes", queryset=EscalationChange.objects.select_related("user").order_by("at", "id"))
    ).get(pk=escalation_id)


def escalations_of_ticket(*, ticket_id: int) -> QuerySet[Escalation]:
    return _escalations().filter(ticket_id=ticket_id).order_by("-created_at", "-id")


def escalations_of_theme(*, theme_id: int) -> QuerySet[Escalation]:
    return _escalations().filter(theme_id=theme_id).order_by("-created_at", "-id")


def backlog_items_linkable() -> QuerySet[BacklogItem]:
    """Backlog items an escalation can go to: everything not closed as won't do, open work first."""
    order = Case(
        When(status=BacklogItemStatus.IN_PROGRESS, then=Value(0)),
        When(status=BacklogItemStatus.PLANNED, then=Value(1)),
        When(status=BacklogItemStatus.IDEA, then=Value(2)),
        default=Value(3),
        output_field=IntegerField(),
    )
    return BacklogItem.objects.exclude(status=BacklogItemStatus.WONT_DO).annotate(rank=order).order_by("rank", "title")


# --- backlog demand -----------------------------------------------------------------------------
#
# Demand for an item = the tickets of its linked themes (a linked area counts all its sub-themes),
# in a period: tickets, distinct customers, distinct organizations and their ARR, against the
# period before. Distinct customers rank the board, so one loud customer does not outweigh many
# quiet ones. Items are read from their rollup (``BacklogDemandDay``: per item, day, customer and
# organization, kept current by the statistics refresh and rebuilt when links change), exact for
# any period in one statement over a narrow table. An item whose rollup was built from other themes
# than it counts now is computed live, as are an item's own per-link rows: a VALUES table maps
# (key, theme) pairs, joined to TicketTheme and Ticket on their indexes and grouped by key.


@dataclass
class Demand:
    tickets: int = 0
    customers: int = 0
    organizations: int = 0
    arr: Decimal = Decimal(0)
    previous_tickets: int = 0
    previous_customers: int = 0
    escalations: int = 0

    @property
    def customers_change(self) -> float | None:
        """Relative change in distinct customers against the previous period (None: new)."""
        if not self.previous_customers:
            return None
        return (self.customers - self.previous_customers) / self.previous_customers

    @property
    def customers_change_percent(self) -> int | None:
        change = self.customers_change
        return round(100 * change) if change is not None else None

    @property
    def customers_delta(self) -> int:
        return self.customers - self.previous_customers


def theme_descendants(*, theme_ids: Iterable[int]) -> dict[int, set[int]]:
    """Each theme with all the themes below it (sub-themes, their sub-themes), itself included."""
    children: dict[int, list[int]] = defaultdict(list)
    for pk, parent in Theme.objects.filter(parent__isnull=False).values_list("pk", "parent_id"):
        children[parent].append(pk)
    result: dict[int, set[int]] = {}
    for root in theme_ids:
        seen, stack = {root}, [root]
        while stack:
            for child in children.get(stack.pop(), []):
                if child not in seen:
                    seen.add(child)
                    stack.append(child)
        result[root] = seen
    return result


def backlog_item_theme_sets(*, item_ids: Sequence[int] | None = None) -> dict[int, set[int]]:
    """Item id → every theme counted for it (linked themes and their descendants); items without
    links are left out. Two queries."""
    links = ThemeLink.objects.all()
    if item_ids is not None:
        links = links.filter(item_id__in=list(item_ids))
    pairs = list(links.values_list("item_id", "theme_id"))
    expanded = theme_descendants(theme_ids={theme for _, theme in pairs})
    result: dict[int, set[int]] = defaultdict(set)
    for item, theme in pairs:
        result[item] |= expanded[theme]
    return dict(result)


def _demand_sql(pairs: list[tuple[int, int]]) -> str:
    tt, ticket, org = TicketTheme._meta.db_table, Ticket._meta.db_table, Organization._meta.db_table
    # Ids are integers from the database; inlined (after int()) so a big board never meets a
    # bound-parameter limit.
    values = ", ".join(f"({int(key)}, {int(theme)})" for key, theme in pairs)
    return f"""
        WITH map(k, theme_id) AS (VALUES {values}),
        hits AS (
            SELECT map.k AS k, t.id AS ticket_id, t.requester_id AS requester_id,
                   t.organization_id AS organization_id,
                   CASE WHEN t.created_at >= %s THEN 1 ELSE 0 END AS now
            FROM {tt} tt
            JOIN map ON map.theme_id = tt.theme_id
            JOIN {ticket} t ON t.id = tt.ticket_id
            WHERE t.created_at >= %s AND t.created_at < %s
        ),
        counts AS (
            SELECT k,
                   COUNT(DISTINCT CASE WHEN now = 1 THEN ticket_id END) AS tickets,
                   COUNT(DISTINCT CASE WHEN now = 1 THEN requester_id END) AS customers,
                   COUNT(DISTINCT CASE WHEN now = 1 THEN organization_id END) AS organizations,
                   COUNT(DISTINCT CASE WHEN now = 0 THEN ticket_id END) AS previous_tickets,
                   COUNT(DISTINCT CASE WHEN now = 0 THEN requester_id END) AS previous_customers
            FROM hits GROUP BY k
        ),
        arr AS (
            SELECT orgs.k AS k, SUM(o.arr) AS arr
            FROM (SELECT DISTINCT k, organization_id FROM hits WHERE now = 1 AND organization_id IS NOT NULL) orgs
            JOIN {org} o ON o.id = orgs.organization_id
            GROUP BY orgs.k
        )
        SELECT counts.k, tickets, customers, organizations, previous_tickets, previous_customers, arr.arr
        FROM counts LEFT JOIN arr ON arr.k = counts.k
    """  # noqa: S608 — table names from the models, integer ids; dates are bound parameters


DEMAND_WORK_MEM = "64MB"
DEMAND_CACHE_SECONDS = 120


def _rows_cached(*, name: str, key: Any, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    """The statement's rows, kept DEMAND_CACHE_SECONDS under a digest of ``key``."""
    digest = hashlib.sha1(repr(key).encode(), usedforsecurity=False).hexdigest()
    cache_key = f"roadmap:{name}:{digest}"
    rows = cache.get(cache_key)
    if rows is None:
        postgres = connection.vendor == "postgresql"
        with transaction.atomic() if postgres else nullcontext(), connection.cursor() as cursor:
            if postgres:
                # The distinct counts sort a few hundred thousand rows on a big store: in memory
                # rather than spilled to disk, for this statement's transaction only.
                cursor.execute(f"SET LOCAL work_mem = '{DEMAND_WORK_MEM}'")
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        cache.set(cache_key, rows, DEMAND_CACHE_SECONDS)
    return rows


def _demands_of(rows: list[tuple[Any, ...]], keys: Iterable[int]) -> dict[int, Demand]:
    """(key, tickets, customers, organizations, previous tickets, previous customers, ARR) rows by key;
    keys without a row have no demand."""
    result = {key: Demand() for key in keys}
    for key, tickets, customers, orgs, prev_tickets, prev_customers, arr in rows:
        result[int(key)] = Demand(
            tickets=int(tickets or 0), customers=customers, organizations=orgs,
            previous_tickets=int(prev_tickets or 0), previous_customers=prev_customers,
            arr=Decimal(str(arr)) if arr is not None else Decimal(0),
        )
    return result


def backlog_demand_live(*, key_themes: dict[int, set[int]], period: Period) -> dict[int, Demand]:
    """Live: from the tickets of each key's themes."""
    pairs = sorted((key, theme) for key, themes in key_themes.items() for theme in themes)
    if not pairs:
        return _demands_of([], key_themes)
    first, last = period.bounds()
    previous_first, _ = period.previous().bounds()
    # Keyed by the exact (key, theme) pairs and period: a new link is counted at once; new tickets
    # within DEMAND_CACHE_SECONDS.
    rows = _rows_cached(name="demand", key=(pairs, first, last), sql=_demand_sql(pairs),
                        params=[first, previous_first, last])
    return _demands_of(rows, key_themes)


def _rollup_sql(item_ids: list[int]) -> str:
    rollup, org = BacklogDemandDay._meta.db_table, Organization._meta.db_table
    items = ", ".join(str(int(pk)) for pk in item_ids)
    return f"""
        WITH days AS (
            SELECT item_id, requester_id, organization_id, tickets,
                   CASE WHEN day >= %s THEN 1 ELSE 0 END AS now
            FROM {rollup} WHERE day >= %s AND day <= %s AND item_id IN ({items})
        ),
        counts AS (
            SELECT item_id,
                   SUM(CASE WHEN now = 1 THEN tickets ELSE 0 END) AS tickets,
                   COUNT(DISTINCT CASE WHEN now = 1 THEN requester_id END) AS customers,
                   COUNT(DISTINCT CASE WHEN now = 1 THEN organization_id END) AS organizations,
                   SUM(CASE WHEN now = 0 THEN tickets ELSE 0 END) AS previous_tickets,
                   COUNT(DISTINCT CASE WHEN now = 0 THEN requester_id END) AS previous_customers
            FROM days GROUP BY item_id
        ),
        arr AS (
            SELECT orgs.item_id AS item_id, SUM(o.arr) AS arr
            FROM (SELECT DISTINCT item_id, organization_id FROM days
                  WHERE now = 1 AND organization_id IS NOT NULL) orgs
            JOIN {org} o ON o.id = orgs.organization_id
            GROUP BY orgs.item_id
        )
        SELECT counts.item_id, tickets, customers, organizations, previous_tickets, previous_customers, arr.arr
        FROM counts LEFT JOIN arr ON arr.item_id = counts.item_id
    """  # noqa: S608 — table names from the models, integer ids; dates are bound parameters


def backlog_demand_from_rollup(*, item_themes: dict[int, set[int]], period: Period,
                               cached: bool = True) -> dict[int, Demand]:
    """From the items' rollup rows, which must be built from exactly these themes (one statement;
    ``cached``: kept DEMAND_CACHE_SECONDS)."""
    if not item_themes:
        return {}
    item_ids = sorted(item_themes)
    sql, params = _rollup_sql(item_ids), [period.start, period.previous().start, period.end]
    if not cached:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return _demands_of(cursor.fetchall(), item_ids)
    # Keyed by the themes too: a link change rebuilds the item's rows and is counted at once.
    key = (sorted((pk, sorted(item_themes[pk])) for pk in item_ids), period.start, period.end)
    return _demands_of(_rows_cached(name="rollup", key=key, sql=sql, params=params), item_ids)


# The board's preset periods (insights.filters.PERIOD_CHOICES): their demand up to today is kept per
# item in BacklogDemandSnapshot.
SNAPSHOT_DAYS = (7, 30, 90)


def _demand_from_snapshot(*, item_themes: dict[int, set[int]], period: Period) -> dict[int, Demand]:
    """The items whose snapshot of this preset period is of today and of the themes they count now."""
    if period.days not in SNAPSHOT_DAYS or period.end != timezone.localdate() or not item_themes:
        return {}
    rows = BacklogDemandSnapshot.objects.filter(item_id__in=list(item_themes), days=period.days, as_of=period.end)
    return {
        row.item_id: Demand(tickets=row.tickets, customers=row.customers, organizations=row.organizations,
                            arr=row.arr, previous_tickets=row.previous_tickets,
                            previous_customers=row.previous_customers)
        for row in rows if row.themes == sorted(item_themes[row.item_id])
    }


def _demand_of_items(*, item_themes: dict[int, set[int]], period: Period) -> dict[int, Demand]:
    """Always exact: from today's snapshot of a preset period, else from the rollup for the items
    whose rows are built from the themes they count now, else live (never built, or their themes
    changed since)."""
    demand = _demand_from_snapshot(item_themes=item_themes, period=period)
    rest = {pk: themes for pk, themes in item_themes.items() if pk not in demand}
    if not rest:
        return demand
    built = dict(BacklogDemandBuild.objects.filter(item_id__in=list(rest)).values_list("item_id", "themes"))
    rolled = {pk: themes for pk, themes in rest.items() if built.get(pk) == sorted(themes)}
    live = {pk: themes for pk, themes in rest.items() if pk not in rolled}
    return (demand | backlog_demand_live(key_themes=live, period=period)
            | backlog_demand_from_rollup(item_themes=rolled, period=period))


COUNTED_ESCALATIONS = (EscalationStatus.OPEN, EscalationStatus.ACKNOWLEDGED, EscalationStatus.RESOLVED)


def backlog_demand(*, period: Period, item_ids: Sequence[int] | None = None) -> dict[int, Demand]:
    """Demand per backlog item in the period (all items, or the given ones): four queries from the
    preset periods' snapshot, one or two more otherwise (see ``_demand_of_items``)."""
    demand = _demand_of_items(item_themes=backlog_item_theme_sets(item_ids=item_ids), period=period)
    escalations = Escalation.objects.filter(backlog_item__isnull=False, status__in=COUNTED_ESCALATIONS)
    if item_ids is not None:
        escalations = escalations.filter(backlog_item_id__in=list(item_ids))
    for item_id, n in escalations.values_list("backlog_item_id").annotate(n=Count("id")).order_by():
        demand.setdefault(item_id, Demand()).escalations = n
    return demand


@dataclass
class BoardRow:
    item: BacklogItem
    demand: Demand


BOARD_SORTS: dict[str, Callable[[BoardRow], Any]] = {
    "customers": lambda row: (-row.demand.customers, -row.demand.tickets, row.item.title.lower()),
    "tickets": lambda row: (-row.demand.tickets, -row.demand.customers, row.item.title.lower()),
    "organizations": lambda row: (-row.demand.organizations, -row.demand.customers, row.item.title.lower()),
    "arr": lambda row: (-row.demand.arr, -row.demand.customers, row.item.title.lower()),
    "trend": lambda row: (-row.demand.customers_delta, -row.demand.customers, row.item.title.lower()),
    "escalations": lambda row: (-row.demand.escalations, -row.demand.customers, row.item.title.lower()),
    "title": lambda row: (row.item.title.lower(),),
}


@dataclass
class BoardColumn:
    status: str
    label: str
    rows: list[BoardRow]


def backlog_board(*, period: Period, sort: str = "customers", kind: str = "") -> list[BoardColumn]:
    """Every item with its demand, in one column per status, each ranked by ``sort``."""
    items = BacklogItem.objects.select_related("owner").prefetch_related(
        Prefetch("theme_links", queryset=ThemeLink.objects.select_related("theme").order_by("theme__name"))
    )
    if kind:
        items = items.filter(kind=kind)
    items_list = list(items)
    demand = backlog_demand(period=period)
    key = BOARD_SORTS.get(sort, BOARD_SORTS["customers"])
    columns = {value: BoardColumn(status=value, label=label, rows=[]) for value, label in BacklogItemStatus.choices}
    for item in items_list:
        columns[item.status].rows.append(BoardRow(item=item, demand=demand.get(item.pk, Demand())))
    for column in columns.values():
        column.rows.sort(key=key)
    return list(columns.values())


def backlog_board_version() -> str:
    """Changes whenever anything the board shows may have: items, links, linked escalations, the
    preset periods' demand, and (through the statistics' version) the rollup and theme names. The
    board keeps its rendered table under it (``roadmap/board.html``): four small aggregate queries
    instead of the items, their demand and a table of them on every view."""
    from insights.services import stats_version

    parts = (
        stats_version(),
        BacklogItem.objects.aggregate(n=Count("id"), last=Max("updated_at")),
        ThemeLink.objects.aggregate(n=Count("id"), last=Max("id"), ids=Sum("id")),
        Escalation.objects.filter(backlog_item__isnull=False).aggregate(n=Count("id"), last=Max("updated_at")),
        BacklogDemandSnapshot.objects.aggregate(last=Max("computed_at")),
    )
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:32]


def backlog_items_count(*, kind: str = "") -> int:
    items = BacklogItem.objects.all()
    return (items.filter(kind=kind) if kind else items).count()


def backlog_item_detail(*, item_id: int) -> BacklogItem:
    """One item with its owner; raises BacklogItem.DoesNotExist."""
    return BacklogItem.objects.select_related("owner", "created_by").get(pk=item_id)


def backlog_item_history(*, item: BacklogItem) -> QuerySet[BacklogItemChange]:
    return item.changes.select_related("user").order_by("-at", "-id")


@dataclass
class LinkRow:
    link: ThemeLink
    demand: Demand
    sub_themes: int


def backlog_item_links(*, item: BacklogItem, period: Period) -> list[LinkRow]:
    """The item's linked themes, each with its own demand (sub-themes included), biggest first."""
    links = list(item.theme_links.select_related("theme", "theme__parent", "linked_by"))
    expanded = theme_descendants(theme_ids={link.theme_id for link in links})
    demand = backlog_demand_live(key_themes={link.pk: expanded[link.theme_id] for link in links}, period=period)
    rows = [LinkRow(link=link, demand=demand[link.pk], sub_themes=len(expanded[link.theme_id]) - 1)
            for link in links]
    return sorted(rows, key=lambda row: (-row.demand.customers, -row.demand.tickets, row.link.theme.name))


def backlog_item_themes(*, item: BacklogItem) -> set[int]:
    """Every theme counted for the item: linked ones and everything below them."""
    return backlog_item_theme_sets(item_ids=[item.pk]).get(item.pk, set())


def backlog_item_tickets(*, theme_ids: Iterable[int], period: Period) -> QuerySet[Ticket]:
    """The tickets counted as the item's demand in the period."""
    first, last = period.bounds()
    return Ticket.objects.filter(
        created_at__gte=first, created_at__lt=last,
        pk__in=TicketTheme.objects.filter(theme_id__in=list(theme_ids)).values("ticket_id"),
    )


def backlog_item_customers(*, theme_ids: Iterable[int], period: Period) -> QuerySet[Any]:
    """Affected customers: one row per requester (tickets, last ticket, organization), most tickets first."""
    return (
        backlog_item_tickets(theme_ids=theme_ids, period=period)
        .filter(requester__isnull=False)
        .values("requester_id", "requester__name", "requester__email", "requester__external_id",
                "organization__name", "organization__plan", "organization__arr", "source__name")
        .annotate(tickets=Count("id"), last_ticket=Max("created_at"))
        .order_by("-tickets", "-last_ticket", "requester_id")
    )


@dataclass
class Quote:
    ticket: Ticket
    text: str


QUOTE_CHARS = 280
QUOTE_CANDIDATES = 40


def backlog_item_quotes(*, theme_ids: Iterable[int], period: Period, limit: int = 3) -> list[Quote]:
    """A few representative customer quotes, one per customer: the most confidently themed of the
    newest ``QUOTE_CANDIDATES`` tickets (walking the created_at index back from the period's end, so
    a big item never sorts all its tickets), in the prepared text — quoting, signatures and PII
    removed —, or the customer's first message before processing. Three queries."""
    ids = list(theme_ids)
    first, last = period.bounds()
    in_themes = Exists(TicketTheme.objects.filter(ticket_id=OuterRef("pk"), theme_id__in=ids))
    candidates = list(
        Ticket.objects.filter(in_themes, created_at__gte=first, created_at__lt=last)
        .order_by("-created_at", "-id").values_list("pk", flat=True)[:QUOTE_CANDIDATES]
    )
    rows = (
        TicketTheme.objects.filter(theme_id__in=ids, ticket_id__in=candidates)
        .select_related("ticket", "ticket__requester", "ticket__organization", "ticket__analysis")
        .order_by("-confidence", "-ticket__created_at", "ticket_id")
    )
    chosen: list[Ticket] = []
    seen: set[Any] = set()
    for row in rows:
        who = row.ticket.requester_id or f"ticket-{row.ticket_id}"
        if who not in seen:
            seen.add(who)
            chosen.append(row.ticket)
        if len(chosen) == limit:
            break
    bodies: dict[int, str] = {}
    for ticket_id, body in (
        Message.objects.filter(ticket__in=chosen, author_role=AuthorRole.CUSTOMER, is_public=True)
        .order_by("ticket_id", "created_at", "id").values_list("ticket_id", "body")
    ):
        bodies.setdefault(ticket_id, body)
    quotes = []
    for ticket in chosen:
        analysis = getattr(ticket, "analysis", None)
        text = " ".join(((analysis.text if analysis else "") or bodies.get(ticket.pk) or ticket.subject).split())
        if text:
            quotes.append(Quote(ticket=ticket, text=text if len(text) <= QUOTE_CHARS else text[:QUOTE_CHARS] + "…"))
    return quotes


def backlog_item_escalations(*, item: BacklogItem) -> QuerySet[Escalation]:
    return _escalations().filter(backlog_item=item).order_by("-created_at", "-id")


# --- ship impact --------------------------------------------------------------------------------

IMPACT_WEEKS = 6


@dataclass
class ShipImpact:
    impact: Impact
    week_starts: list[date]  # first day of each week, before and after
    theme_counts: list[int]
    totals: list[int]
    weeks_before: int
    shipped_on: date


def backlog_item_ship_impact(*, item: BacklogItem, theme_ids: Iterable[int], weeks: int = IMPACT_WEEKS) -> ShipImpact:
    """Weekly tickets of the item's themes and of everything, ``weeks`` before and up to ``weeks``
    after the ship date (only whole weeks), and the statistical verdict (two queries)."""
    assert item.shipped_at is not None
    zone = timezone.get_current_timezone()
    shipped_on = timezone.localtime(item.shipped_at, zone).date()
    today = timezone.localdate()
    weeks_after = max(0, min(weeks, (today - shipped_on).days // 7))
    start, end = shipped_on - timedelta(days=7 * weeks), shipped_on + timedelta(days=7 * weeks_after)
    window = Period(start=start, end=end - timedelta(days=1))
    first, last = window.bounds()
    theme_daily = dict(
        backlog_item_tickets(theme_ids=theme_ids, period=window)
        .annotate(day=TruncDate("created_at")).values_list("day").annotate(n=Count("*")).order_by()
    )
    total_daily = dict(
        Ticket.objects.filter(created_at__gte=first, created_at__lt=last)
        .annotate(day=TruncDate("created_at")).values_list("day").annotate(n=Count("*")).order_by()
    )
    count = weeks + weeks_after
    theme_counts, totals = [0] * count, [0] * count
    for series, target in ((theme_daily, theme_counts), (total_daily, totals)):
        for day, n in series.items():
            index = (day - start).days // 7
            if 0 <= index < count:
                target[index] += n
    per_week = [Week(theme=t, total=n) for t, n in zip(theme_counts, totals, strict=True)]
    return ShipImpact(
        impact=ship_impact(before=per_week[:weeks], after=per_week[weeks:]),
        week_starts=[start + timedelta(days=7 * i) for i in range(count)],
        theme_counts=theme_counts, totals=totals, weeks_before=weeks, shipped_on=shipped_on,
    )


# --- unaddressed demand -------------------------------------------------------------------------


@dataclass
class UnaddressedRow:
    theme: Theme
    count: int
    previous: int
    customers: int = 0
    closed_items: list[BacklogItem] = field(default_factory=list)

    @property
    def delta(self) -> int:
        return self.count - self.previous

    @property
    def change_percent(self) -> int | None:
        return round(100 * (self.count - self.previous) / self.previous) if self.previous else None


UNADDRESSED_SHOWN = 10
GROWING_MIN_TICKETS = 5


@dataclass
class Unaddressed:
    largest: list[UnaddressedRow]
    growing: list[UnaddressedRow]
    total_themes: int
    addressed_themes: int


def unaddressed_demand(*, period: Period, limit: int = UNADDRESSED_SHOWN) -> Unaddressed:
    """Active granular themes that no open item (idea, planned, in progress) covers — directly or
    through a linked area above them —: the largest (by distinct customers, among the themes with
    most tickets) and the fastest growing (tickets against the period before)."""
    open_links = ThemeLink.objects.exclude(item__status__in=CLOSED_STATUSES).values_list("theme_id", flat=True)
    covered: set[int] = set().union(*theme_descendants(theme_ids=set(open_links)).values())
    has_children = Exists(Theme.objects.filter(parent_id=OuterRef("pk"), status=ThemeStatus.ACTIVE))
    themes = {t.pk: t for t in Theme.objects.filter(status=ThemeStatus.ACTIVE).exclude(has_children)
              .select_related("parent")}
    now = _theme_counts(period=period)
    before = _theme_counts(period=period.previous())
    rows = [UnaddressedRow(theme=theme, count=now.get(pk, 0), previous=before.get(pk, 0))
            for pk, theme in themes.items() if pk not in covered and (now.get(pk) or before.get(pk))]
    # Candidates by tickets (from ThemeStat), then distinct customers for those only, which rank the list.
    by_count = sorted(rows, key=lambda r: (-r.count, -r.previous, r.theme.name))[:limit * 3]
    growing = sorted([r for r in rows if r.count >= GROWING_MIN_TICKETS and r.delta > 0],
                     key=lambda r: (-(r.count + 1) / (r.previous + 1), -r.count, r.theme.name))[:limit]
    shown = {r.theme.pk: r for r in [*by_count, *growing]}
    if shown:
        first, last = period.bounds()
        for theme_id, n in (
            TicketTheme.objects.filter(theme_id__in=list(shown), ticket__created_at__gte=first,
                                       ticket__created_at__lt=last)
            .values_list("theme_id").annotate(n=Count("ticket__requester_id", distinct=True)).order_by()
        ):
            shown[theme_id].customers = n
        for link in ThemeLink.objects.filter(theme_id__in=list(shown), item__status__in=CLOSED_STATUSES) \
                .select_related("item").order_by("item__title"):
            shown[link.theme_id].closed_items.append(link.item)
    largest = sorted(by_count, key=lambda r: (-r.customers, -r.count, r.theme.name))[:limit]
    return Unaddressed(largest=largest, growing=growing, total_themes=len(themes),
                       addressed_themes=len(covered & set(themes)))


def _theme_counts(*, period: Period) -> dict[int, int]:
    rows = (ThemeStat.objects.filter(day__gte=period.start, day__lte=period.end)
            .values_list("theme_id").annotate(n=Sum("tickets")).order_by())
    return {theme_id: int(n or 0) for theme_id, n in rows}


def backlog_items_open() -> QuerySet[BacklogItem]:
    """Items a theme can still be linked to as open work, for the "link to item" choosers."""
    return backlog_items_linkable().exclude(status=BacklogItemStatus.SHIPPED)


# --- closing the loop: the tickets a shipped item's fix answers -------------------------------------

# A shipped item's affected tickets are those of its themes in this many days before it shipped (the
# same set as the page's "Close the loop" CSV exports).
CLOSE_THE_LOOP_DAYS = 90
def shipped_item_loop_period(*, item: BacklogItem) -> Period | None:
    """For a shipped item: the days before shipping whose customers should hear about the fix."""
    if item.shipped_at is None:
        return None
    shipped_on = timezone.localtime(item.shipped_at).date()
    return Period(start=shipped_on - timedelta(days=CLOSE_THE_LOOP_DAYS), end=shipped_on)


def tag_back_supported(kind: str) -> bool:
    try:
        return connector_for(kind).tag_tickets is not None
    except ConfigurationError:  # uploads, webhooks, the API: nothing to write back to
        return False


@dataclass(frozen=True)
class TagBackTarget:
    """The affected tickets of one source, and whether its connector can tag them in the help desk."""

    source: Source
    external_ids: list[str]
    supported: bool


def _loop_tickets(item: BacklogItem) -> QuerySet[Ticket] | None:
    period = shipped_item_loop_period(item=item)
    theme_ids = backlog_item_themes(item=item) if period is not None else set()
    if period is None or not theme_ids:
        return None
    return backlog_item_tickets(theme_ids=theme_ids, period=period)


def shipped_item_tag_targets(*, item: BacklogItem) -> list[TagBackTarget]:
    """The shipped item's affected tickets (those of the close-the-loop export) grouped by source, by name.

    Three queries whatever the number of tickets; empty for an item that has not shipped.
    """
    tickets = _loop_tickets(item)
    if tickets is None:
        return []
    by_source: dict[int, list[str]] = {}
    for source_id, external_id in tickets.order_by("source_id", "external_id").values_list("source_id",
                                                                                             "external_id"):
        by_source.setdefault(source_id, []).append(external_id)
    sources = Source.objects.filter(pk__in=list(by_source)).order_by("name")
    return [
        TagBackTarget(source=source, external_ids=by_source[source.pk], supported=tag_back_supported(source.kind))
        for source in sources
    ]


def shipped_item_tag_counts(*, item: BacklogItem) -> list[tuple[Source, int, bool]]:
    """(source, affected tickets, can be tagged) per source by name, for the item page: counts, not ids."""
    tickets = _loop_tickets(item)
    if tickets is None:
        return []
    counts = dict(tickets.order_by().values_list("source_id").annotate(n=Count("id")).values_list("source_id", "n"))
    return [(source, counts[source.pk], tag_back_supported(source.kind))
            for source in Source.objects.filter(pk__in=list(counts)).order_by("name")]
