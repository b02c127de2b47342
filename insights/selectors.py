"""Reads of the insights app."""

from __future__ import annotations

import hashlib
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from functools import partial
from typing import Any, TypeVar
from urllib.parse import urlencode

import numpy as np
from django.conf import settings
from django.core.cache import cache
from django.db import connections
from django.db.models import (
    Aggregate,
    Avg,
    Case,
    Count,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    FloatField,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Extract, TruncDate
from django.urls import reverse
from django.utils import timezone
from scipy import stats

from insights.analysis.classification import explain
from insights.models import (
    AssignmentMethod,
    DiscoveryRun,
    DiscoveryRunStatus,
    ModelKind,
    ModelVersion,
    SpikeAlert,
    Theme,
    ThemeChange,
    ThemeStat,
    ThemeStatus,
    TicketAnalysis,
    TicketTheme,
    UnthemedStat,
)
from insights.services import CORRECTION_ACTIONS, model_version_load, stats_version, vectors_of
from roadmap.models import Escalation, EscalationStatus
from tickets.filters import TicketFilter
from tickets.models import AuthorRole, Channel, Message, Organization, Ticket


@dataclass(frozen=True)
class AssignmentReason:
    """Why a ticket is in a theme, in words a support lead can check."""

    method: str
    confidence: float
    terms: tuple[tuple[str, float], ...] = ()
    sentence: str | None = None
    by: str = ""


def ticket_theme_reason(*, ticket_theme: TicketTheme) -> AssignmentReason:
    """The terms and sentence that made the model choose this theme (computed on demand from the
    model version that assigned it), or who decided it for a manual assignment."""
    if ticket_theme.method == AssignmentMethod.MANUAL:
        person = ticket_theme.assigned_by
        by = (person.get_full_name() or person.email) if person else ""
        return AssignmentReason(method="manual", confidence=1.0, by=by)
    version = ticket_theme.model_version
    analysis = TicketAnalysis.objects.filter(ticket_id=ticket_theme.ticket_id, vector__isnull=False).first()
    if version is None or analysis is None:
        return AssignmentReason(method=ticket_theme.method, confidence=ticket_theme.confidence)
    model = model_version_load(version)
    if str(ticket_theme.theme_id) not in model.themes:
        return AssignmentReason(method=ticket_theme.method, confidence=ticket_theme.confidence)
    why = explain(model, vectors_of([analysis])[0], analysis.text, str(ticket_theme.theme_id))
    return AssignmentReason(
        method=ticket_theme.method, confidence=ticket_theme.confidence, terms=why.terms, sentence=why.sentence
    )


# --- dashboards ---------------------------------------------------------------------------------
#
# Counts per theme come from ThemeStat (theme × day × source × channel × plan), which stays small
# at any ticket volume. Only what ThemeStat does not carry (an organization, distinct customers,
# resolution health) reads TicketTheme ⋈ Ticket, always bounded by a period and a theme set.


@dataclass(frozen=True)
class Period:
    """Whole days from ``start`` to ``end``, both included, in the site's time zone."""

    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Period:
        """The period of the same length that ends the day before this one starts."""
        return Period(start=self.start - timedelta(days=self.days), end=self.start - timedelta(days=1))

    @property
    def created_after(self) -> str:
        return self.start.isoformat()

    @property
    def created_before(self) -> str:
        """The first day after the period (the ticket filter's bound is exclusive)."""
        return (self.end + timedelta(days=1)).isoformat()

    def bounds(self) -> tuple[datetime, datetime]:
        zone = timezone.get_current_timezone()
        first = datetime.combine(self.start, time.min, tzinfo=zone)
        return first, datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=zone)

    def each_day(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range(self.days)]


@dataclass(frozen=True)
class Segment:
    """Which tickets count; empty values mean "any"."""

    source_id: int | None = None
    channel: str = ""
    plan: str = ""
    organization_id: int | None = None
    organization_name: str = ""

    @property
    def is_filtered(self) -> bool:
        return bool(self.source_id or self.channel or self.plan or self.organization_id)

    def ticket_query(self) -> dict[str, str]:
        """The Tickets page's filters for this segment."""
        query = {"source": self.source_id, "channel": self.channel, "plan": self.plan,
                 "organization": self.organization_id}
        return {key: str(value) for key, value in query.items() if value}

    def ticket_q(self, prefix: str = "") -> Q:
        q = Q()
        if self.source_id:
            q &= Q(**{f"{prefix}source_id": self.source_id})
        if self.channel:
            q &= Q(**{f"{prefix}channel": self.channel})
        if self.plan:
            q &= Q(**{f"{prefix}organization__plan": self.plan})
        if self.organization_id:
            q &= Q(**{f"{prefix}organization_id": self.organization_id})
        return q


def tickets_link(*, period: Period, segment: Segment, **extra: Any) -> str:
    """The Tickets page listing exactly the tickets a number counts."""
    query = {"created_after": period.created_after, "created_before": period.created_before,
             **segment.ticket_query(), **{key: str(value) for key, value in extra.items() if value is not None}}
    return f"{reverse('ticket_list')}?{urlencode(query)}"


def theme_tickets_links(*, period: Period, segment: Segment) -> Callable[[int], str]:
    """``tickets_link`` for many themes of one period and segment: the common part is built once."""
    prefix = tickets_link(period=period, segment=segment)
    return lambda theme_id: f"{prefix}&theme={theme_id}"


# ThemeStat column → the same value seen from a TicketTheme row.
_STAT_FIELDS = {"theme_id": "theme_id", "channel": "ticket__channel", "plan": "ticket__organization__plan",
                "source_id": "ticket__source_id"}


def theme_ticket_counts(
    *, period: Period, segment: Segment, by: Sequence[str] = ("theme_id",), theme_ids: Iterable[int] | None = None
) -> dict[tuple[Any, ...], int]:
    """Tickets per theme (or per any of theme_id, day, channel, plan, source_id) in the period.

    Read from ThemeStat; an organization filter, which ThemeStat has no column for, reads the
    assignments of that organization's tickets instead (few, and found through its index).
    """
    if segment.organization_id:
        first, last = period.bounds()
        rows = TicketTheme.objects.filter(
            segment.ticket_q("ticket__"), ticket__created_at__gte=first, ticket__created_at__lt=last
        )
        if "day" in by:
            rows = rows.annotate(day=TruncDate("ticket__created_at"))
        fields = [name if name == "day" else _STAT_FIELDS[name] for name in by]
        counted = Count("ticket_id")
    else:
        rows = ThemeStat.objects.filter(day__gte=period.start, day__lte=period.end)  # type: ignore[assignment]
        rows = rows.filter(**{k: v for k, v in (("source_id", segment.source_id), ("channel", segment.channel),
                                                 ("plan", segment.plan)) if v})
        fields = list(by)
        counted = Sum("tickets")  # type: ignore[assignment]
    if theme_ids is not None:
        rows = rows.filter(theme_id__in=list(theme_ids))
    result: dict[tuple[Any, ...], int] = {}
    for row in rows.values_list(*fields).annotate(n=counted).order_by():
        key = tuple(value or "" if field != "day" else value for field, value in zip(by, row[:-1], strict=True))
        result[key] = result.get(key, 0) + int(row[-1] or 0)
    return result


def _per_theme(counts: dict[tuple[Any, ...], int]) -> dict[int, int]:
    return {int(key[0]): n for key, n in counts.items() if n}


def tickets_in(*, period: Period, segment: Segment) -> QuerySet[Ticket]:
    first, last = period.bounds()
    return Ticket.objects.filter(segment.ticket_q(), created_at__gte=first, created_at__lt=last)


def theme_customers(*, period: Period, segment: Segment, theme_ids: Sequence[int]) -> dict[int, int]:
    """Distinct requesters per theme in the period, for the given themes only."""
    if not theme_ids:
        return {}
    first, last = period.bounds()
    rows = (
        TicketTheme.objects.filter(segment.ticket_q("ticket__"), theme_id__in=list(theme_ids),
                                   ticket__created_at__gte=first, ticket__created_at__lt=last)
        .values_list("theme_id")
        .annotate(n=Count("ticket__requester_id", distinct=True))
        .order_by()
    )
    return dict(rows)


@dataclass
class ThemeRow:
    """A theme's volume in a period against the period before, and whom it touches."""

    theme: Theme
    count: int
    previous: int
    customers: int | None = None
    arr: Decimal | None = None  # the summed ARR of the distinct organizations it touches
    expected: float = 0.0
    p_value: float = 1.0
    link: str = ""
    previous_link: str = ""

    @property
    def delta(self) -> int:
        return self.count - self.previous

    @property
    def change(self) -> float | None:
        """Relative change, or None when the theme had no tickets before (new)."""
        return (self.count - self.previous) / self.previous if self.previous else None

    @property
    def change_percent(self) -> int | None:
        return round(100 * self.change) if self.change is not None else None

    @property
    def lift(self) -> float:
        return (self.count + 1) / (self.expected + 1)


# A rise must be this unlikely under "the theme kept its share of the volume" to be shown...
RISING_MAX_P = 0.01
# ...and be this many tickets above its share: 1 → 3 is noise, however small its p-value.
RISING_MIN_EXTRA = 5


def rising_p_value(*, count: int, previous: int, share_now: float) -> float:
    """One-sided binomial test: of the ``count + previous`` tickets of a theme over two periods,
    how surprising it is that ``count`` fell in the recent one, if each ticket fell there with the
    probability ``share_now`` that any ticket did (so an overall rise in volume is not a theme's rise)."""
    total = count + previous
    if total == 0 or not 0 < share_now < 1:
        return 1.0
    return float(stats.binomtest(count, total, share_now, alternative="greater").pvalue)


def theme_rows(
    *, period: Period, segment: Segment, statuses: Sequence[str] = (ThemeStatus.ACTIVE,)
) -> list[ThemeRow]:
    """Every theme with tickets in the period or the one before, busiest first."""
    now = _per_theme(theme_ticket_counts(period=period, segment=segment))
    before = _per_theme(theme_ticket_counts(period=period.previous(), segment=segment))
    themes = Theme.objects.filter(pk__in=set(now) | set(before), status__in=statuses).select_related("parent")
    total_now, total_before = sum(now.values()), sum(before.values())
    link, previous_link = (theme_tickets_links(period=p, segment=segment) for p in (period, period.previous()))
    rows = []
    for theme in themes:
        count, previous = now.get(theme.pk, 0), before.get(theme.pk, 0)
        # The share of recent tickets among all *other* themes: what this theme would have if it
        # moved with the rest (leaving it out keeps a big riser from raising its own bar).
        others_now, others_before = total_now - count, total_before - previous
        share = others_now / (others_now + others_before) if others_now + others_before else 0.5
        rows.append(ThemeRow(
            theme=theme, count=count, previous=previous, expected=(count + previous) * share,
            link=link(theme.pk), previous_link=previous_link(theme.pk),
        ))
    rows.sort(key=lambda row: (-row.count, -row.previous, row.theme.name))
    return rows


def rising_rows(rows: Sequence[ThemeRow]) -> list[ThemeRow]:
    """Themes whose rise beats both chance and the overall change in volume, biggest lift first."""
    rising = []
    for row in rows:
        if row.count - row.expected < RISING_MIN_EXTRA:
            continue
        share = row.expected / (row.count + row.previous) if row.count + row.previous else 0.5
        row.p_value = rising_p_value(count=row.count, previous=row.previous, share_now=share)
        if row.p_value < RISING_MAX_P:
            rising.append(row)
    return sorted(rising, key=lambda row: (-row.lift, -row.count))


@dataclass
class VolumeTotals:
    """All tickets of the period (themed or not) against the period before.

    How many are in no theme comes from the daily statistics (``unthemed_count``): counting it
    from the tickets probes the assignments of every ticket of the period. How many asked
    nothing (``no_request``) is counted: those few are found through their own index.
    """

    tickets: int
    previous: int
    link: str
    previous_link: str
    unthemed_link: str
    unthemed: int
    no_request: int
    no_request_link: str

    @property
    def delta(self) -> int:
        return self.tickets - self.previous

    @property
    def change_percent(self) -> int | None:
        return round(100 * (self.tickets - self.previous) / self.previous) if self.previous else None


def volume_totals(*, period: Period, segment: Segment, tickets: int | None = None) -> VolumeTotals:
    """``tickets``: the period's count when the caller has it already."""
    return VolumeTotals(
        tickets=tickets_in(period=period, segment=segment).count() if tickets is None else tickets,
        previous=tickets_in(period=period.previous(), segment=segment).count(),
        link=tickets_link(period=period, segment=segment),
        previous_link=tickets_link(period=period.previous(), segment=segment),
        unthemed_link=tickets_link(period=period, segment=segment, unthemed="true"),
        unthemed=unthemed_count(period=period, segment=segment),
        no_request=no_request_count(period=period, segment=segment),
        no_request_link=tickets_link(period=period, segment=segment, no_request="true"),
    )


def unthemed_count(*, period: Period, segment: Segment) -> int:
    """Tickets of the period in no theme that ask something, from the daily statistics
    (``UnthemedStat``); an organization filter, which they have no column for, counts that
    organization's tickets (few, through its index) with the tickets list's own filter."""
    if segment.organization_id:
        first, last = period.bounds()
        tickets = Ticket.objects.filter(segment.ticket_q(), created_at__gte=first, created_at__lt=last)
        return TicketFilter({"unthemed": "true"}, queryset=tickets).qs.count()
    rows = UnthemedStat.objects.filter(day__gte=period.start, day__lte=period.end).filter(
        **{k: v for k, v in (("source_id", segment.source_id), ("channel", segment.channel), ("plan", segment.plan))
           if v})
    return int(rows.aggregate(n=Sum("tickets"))["n"] or 0)


def no_request_count(*, period: Period, segment: Segment) -> int:
    """Tickets of the period in which the customer asked nothing (kept out of themes and triage)."""
    first, last = period.bounds()
    return TicketAnalysis.objects.filter(
        segment.ticket_q("ticket__"), no_request=True, ticket__created_at__gte=first, ticket__created_at__lt=last
    ).count()


def daily_ticket_totals(*, period: Period, segment: Segment) -> dict[date, int]:
    rows = (
        tickets_in(period=period, segment=segment)
        .annotate(day=TruncDate("created_at"))
        .values_list("day")
        .annotate(n=Count("*"))  # COUNT(*): the created_at index alone answers it
        .order_by()
    )
    return dict(rows)


def spike_alerts_in(*, period: Period, theme_ids: Iterable[int] | None = None) -> list[SpikeAlert]:
    alerts = SpikeAlert.objects.filter(start_date__gte=period.start, start_date__lte=period.end)
    if theme_ids is not None:
        alerts = alerts.filter(theme_id__in=list(theme_ids))
    return list(alerts.select_related("theme").order_by("start_date"))


def store_state() -> dict[str, bool | int]:
    """What exists yet, for the empty states: tickets, active themes, suggestions to review."""
    return {
        "has_tickets": Ticket.objects.exists(),
        "has_themes": Theme.objects.filter(status=ThemeStatus.ACTIVE).exists(),
        "suggested": Theme.objects.filter(status=ThemeStatus.SUGGESTED).count(),
    }


# --- one theme ----------------------------------------------------------------------------------


def theme_detail(*, theme_id: int) -> Theme:
    """A theme with its area; raises Theme.DoesNotExist."""
    return Theme.objects.select_related("parent", "merged_into").get(pk=theme_id)


@dataclass
class Health:
    """How a set of tickets went: resolution, reopens and satisfaction."""

    tickets: int
    median_resolution_hours: float | None
    reopen_share: float | None
    csat: float | None


def _health_of(facts: Sequence[tuple[Any, ...]]) -> Health:
    """Health from (requester, organization, ARR, resolution time, reopen_count, csat) rows."""
    hours = [resolution.total_seconds() / 3600 for _, _, _, resolution, _, _ in facts if resolution is not None]
    scores = [csat for *_, csat in facts if csat is not None]
    return Health(
        tickets=len(facts),
        median_resolution_hours=statistics.median(hours) if hours else None,
        reopen_share=sum(1 for fact in facts if fact[4]) / len(facts) if facts else None,
        csat=sum(scores) / len(scores) if scores else None,
    )


STATS_CACHE_SECONDS = 600
_Cached = TypeVar("_Cached")


def stats_cached(name: str, *key: Any, compute: Callable[[], _Cached]) -> _Cached:
    """``compute()``, kept in the cache under the statistics' version (``stats_version``): what a
    dashboard or theme page reads is computed once per change of the data for everyone opening the
    same view, and a change (a rebuilt day, a curated theme, a spike) makes the next view recompute."""
    digest = hashlib.sha256(repr(key).encode()).hexdigest()[:32]
    cache_key = f"stats:{name}:{stats_version()}:{digest}"
    found = cache.get(cache_key)
    if found is None:
        found = compute()
        cache.set(cache_key, found, STATS_CACHE_SECONDS)
    return found


def overall_health(*, period: Period, segment: Segment) -> Health:
    """Health of all tickets of the period: the baseline every theme page compares with, the same
    for all of them, so kept (``stats_cached``) instead of rescanning the period per page."""
    return stats_cached("overall-health", period, segment,
                        compute=lambda: _health(tickets_in(period=period, segment=segment)))


def _health(tickets: QuerySet[Ticket]) -> Health:
    agg = tickets.aggregate(
        n=Count("id"), reopened=Count("id", filter=Q(reopen_count__gt=0)), csat=Avg("csat")
    )
    n = agg["n"]
    return Health(
        tickets=n,
        median_resolution_hours=_median_resolution_hours(tickets.filter(solved_at__isnull=False)),
        reopen_share=agg["reopened"] / n if n else None,
        csat=float(agg["csat"]) if agg["csat"] is not None else None,
    )


class _Median(Aggregate):
    """PostgreSQL's exact median."""

    function = "percentile_cont"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()


def _median_resolution_hours(solved: QuerySet[Ticket]) -> float | None:
    if connections[solved.db].vendor == "postgresql":
        seconds = solved.aggregate(
            m=_Median(Extract(ExpressionWrapper(F("solved_at") - F("created_at"), output_field=DurationField()),
                              "epoch"))
        )["m"]
        return float(seconds) / 3600 if seconds is not None else None
    # The embedded SQLite run has no percentile function; its data sets are small.
    durations = [(solved_at - created_at).total_seconds()
                 for created_at, solved_at in solved.values_list("created_at", "solved_at") if solved_at]
    return statistics.median(durations) / 3600 if durations else None


@dataclass
class ThemeProfile:
    """Who a theme touches in a period and how its tickets went, against all tickets."""

    tickets: int
    previous: int
    customers: int
    organizations: int
    arr: Decimal | None
    health: Health
    overall: Health
    organization_tickets: Counter[int] = field(default_factory=Counter)

    def worse(self) -> dict[str, bool]:
        """Which health figures are worse for this theme than for all tickets (for emphasis)."""
        theme, overall = self.health, self.overall

        def above(a: float | None, b: float | None) -> bool:
            return a is not None and b is not None and a > b * 1.1

        return {"resolution": above(theme.median_resolution_hours, overall.median_resolution_hours),
                "reopen": above(theme.reopen_share, overall.reopen_share),
                "csat": above(overall.csat, theme.csat)}


def theme_profile(*, theme: Theme, period: Period, segment: Segment) -> ThemeProfile:
    """Reach and health of the theme's tickets in the period.

    The theme's tickets are read once, a few columns each, and everything is counted from those
    rows: finding them is the expensive part, so no figure finds them again.
    """
    in_theme = Exists(TicketTheme.objects.filter(ticket_id=OuterRef("pk"), theme_id=theme.pk))
    resolution = ExpressionWrapper(F("solved_at") - F("created_at"), output_field=DurationField())
    facts = list(tickets_in(period=period, segment=segment).filter(in_theme).values_list(
        "requester_id", "organization_id", "organization__arr", resolution, "reopen_count", "csat"))
    organizations = Counter(org for _, org, *_ in facts if org is not None)
    revenue = {org: arr for _, org, arr, *_ in facts if org is not None and arr is not None}
    arr = sum(revenue.values(), Decimal(0)) if revenue else None
    previous = sum(theme_ticket_counts(period=period.previous(), segment=segment, theme_ids=[theme.pk]).values())
    return ThemeProfile(
        tickets=len(facts), previous=previous, customers=len({req for req, *_ in facts if req is not None}),
        organizations=len(organizations), arr=arr, health=_health_of(facts),
        overall=overall_health(period=period, segment=segment), organization_tickets=organizations,
    )


@dataclass
class Breakdown:
    label: str
    count: int
    link: str
    share: float = 0.0
    arr: Decimal | None = None
    plan: str = ""


def _shares(rows: list[Breakdown]) -> list[Breakdown]:
    total = sum(row.count for row in rows) or 1
    for row in rows:
        row.share = row.count / total
    return sorted(rows, key=lambda row: (-row.count, row.label))


def theme_breakdowns(*, theme: Theme, period: Period, segment: Segment,
                     profile: ThemeProfile) -> dict[str, list[Breakdown]]:
    """The theme's tickets by channel and by plan (from ThemeStat) and its busiest organizations
    (from the profile's rows)."""
    counts = theme_ticket_counts(period=period, segment=segment, by=("channel", "plan"), theme_ids=[theme.pk])
    by_channel: dict[str, int] = defaultdict(int)
    by_plan: dict[str, int] = defaultdict(int)
    for (channel, plan), n in counts.items():
        by_channel[channel] += n
        by_plan[plan] += n
    channels = dict(Channel.choices)
    link = partial(tickets_link, period=period, segment=segment, theme=theme.pk)
    return {
        "channels": _shares([Breakdown(label=str(channels.get(c, c or "—")), count=n,
                                       link=link(channel=c) if c and not segment.channel else link())
                             for c, n in by_channel.items() if n]),
        "plans": _shares([Breakdown(label=p.title() if p else "No plan", count=n,
                                    link=link(plan=p) if p and not segment.plan else link())
                          for p, n in by_plan.items() if n]),
        "organizations": _top_organizations(profile, link),
    }


TOP_ORGANIZATIONS = 10


def _top_organizations(profile: ThemeProfile, link: Callable[..., str]) -> list[Breakdown]:
    counts = profile.organization_tickets
    top = [pk for pk, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:TOP_ORGANIZATIONS]]
    found = {org.pk: org for org in Organization.objects.filter(pk__in=top).only("name", "plan", "arr")}
    total = profile.tickets or 1
    rows = [Breakdown(label=found[pk].name, count=counts[pk], plan=found[pk].plan, arr=found[pk].arr,
                      share=counts[pk] / total, link=link(organization=pk))
            for pk in top if pk in found]
    return sorted(rows, key=lambda row: (-row.count, row.label))


def theme_daily(*, theme: Theme, period: Period, segment: Segment) -> dict[date, int]:
    counts = theme_ticket_counts(period=period, segment=segment, by=("day",), theme_ids=[theme.pk])
    return {key[0]: n for key, n in counts.items()}


@dataclass
class Example:
    """A ticket that shows the theme, with the sentence that made it match."""

    ticket: Ticket
    confidence: float
    method: str  # AssignmentMethod: manual, discovery or model
    text: str
    sentence: str | None
    terms: tuple[str, ...]
    by: str = ""  # who confirmed it, for a manual assignment


EXAMPLE_TEXT_CHARS = 600


EXAMPLE_CANDIDATES = 50


@dataclass
class ThemeFigures:
    """What the theme page computes from the theme's tickets and statistics."""

    profile: ThemeProfile
    breakdowns: dict[str, list[Breakdown]]
    children: list[ThemeRow]
    daily: dict[date, int]
    examples: list[Example]


def theme_figures(*, theme: Theme, period: Period, segment: Segment) -> ThemeFigures:
    """The theme page's figures for a period and segment (``stats_cached``)."""

    def compute() -> ThemeFigures:
        profile = theme_profile(theme=theme, period=period, segment=segment)
        return ThemeFigures(
            profile=profile,
            breakdowns=theme_breakdowns(theme=theme, period=period, segment=segment, profile=profile),
            children=theme_children(theme=theme, period=period, segment=segment),
            daily=theme_daily(theme=theme, period=period, segment=segment),
            examples=theme_examples(theme=theme, period=period, segment=segment),
        )

    return stats_cached("theme", theme.pk, period, segment, compute=compute)


def theme_examples(*, theme: Theme, period: Period, segment: Segment, limit: int = 5) -> list[Example]:
    """The most confident of the theme's latest tickets in the period.

    Candidates are the theme's newest ``EXAMPLE_CANDIDATES`` tickets, found walking the period
    back from its end: ranking every ticket of a big theme by confidence would read them all.
    """
    in_theme = Exists(TicketTheme.objects.filter(ticket_id=OuterRef("pk"), theme_id=theme.pk))
    latest = tickets_in(period=period, segment=segment).filter(in_theme).order_by("-created_at", "-id")
    candidates = list(latest.values_list("pk", flat=True)[:EXAMPLE_CANDIDATES])
    rows = (
        TicketTheme.objects.filter(theme_id=theme.pk, ticket_id__in=candidates)
        .select_related("ticket__requester", "ticket__organization", "ticket__analysis", "model_version",
                        "assigned_by")
        .prefetch_related(Prefetch("ticket__messages", to_attr="customer_messages",
                                   queryset=Message.objects.filter(author_role=AuthorRole.CUSTOMER)))
        # Confident, correct-looking members first: a person's decision, then tickets whose best
        # theme this is, by calibrated confidence; a ticket that only also mentions it comes last.
        .annotate(is_best=Case(When(Q(method=AssignmentMethod.MANUAL) | Q(ticket__analysis__best_theme_id=theme.pk),
                                    then=Value(1)), default=Value(0), output_field=IntegerField()))
        .order_by("-is_best", "-confidence", "-ticket__created_at")[:limit]
    )
    examples = []
    for row in rows:
        reason_terms = row.explanation.get("terms") or []
        sentence = row.explanation.get("sentence")
        if not sentence and row.method != AssignmentMethod.MANUAL:
            sentence, reason_terms = _reason_cached(row)
        # The prepared text (quotes, signatures and PII removed) is what the sentence was taken from;
        # before processing, the customer's first message stands in for it.
        analysis = getattr(row.ticket, "analysis", None)
        said: list[Message] = getattr(row.ticket, "customer_messages", [])
        opening = said[0].body if said else row.ticket.subject
        examples.append(Example(
            ticket=row.ticket, confidence=row.confidence, method=row.method,
            by=(row.assigned_by.get_full_name() or row.assigned_by.email) if row.assigned_by else "",
            text=analysis.text if analysis else opening, sentence=sentence,
            terms=tuple(str(term[0]) for term in reason_terms),
        ))
    return examples


REASON_CACHE_SECONDS = 7 * 24 * 3600


def _reason_cached(row: TicketTheme) -> tuple[str | None, list[Any]]:
    """The model's sentence and terms for an assignment, computed once per assignment, model
    version and ticket content (explaining costs tens of milliseconds per ticket)."""
    key = f"theme-reason:{row.pk}:{row.theme_id}:{row.model_version_id}:{row.ticket.content_hash}"
    found = cache.get(key)
    if found is None:
        reason = ticket_theme_reason(ticket_theme=row)
        found = (reason.sentence, [list(term) for term in reason.terms])
        cache.set(key, found, REASON_CACHE_SECONDS)
    return found[0], found[1]


def theme_children(*, theme: Theme, period: Period, segment: Segment) -> list[ThemeRow]:
    children = list(theme.children.filter(status=ThemeStatus.ACTIVE).order_by("name"))
    ids = [child.pk for child in children]
    now = _per_theme(theme_ticket_counts(period=period, segment=segment, theme_ids=ids))
    before = _per_theme(theme_ticket_counts(period=period.previous(), segment=segment, theme_ids=ids))
    link = theme_tickets_links(period=period, segment=segment)
    rows = [ThemeRow(theme=child, count=now.get(child.pk, 0), previous=before.get(child.pk, 0), link=link(child.pk))
            for child in children]
    return sorted(rows, key=lambda row: (-row.count, row.theme.name))


def theme_open_escalations(*, theme: Theme) -> QuerySet[Escalation]:
    return (
        Escalation.objects.filter(theme=theme, status__in=[EscalationStatus.OPEN, EscalationStatus.ACKNOWLEDGED])
        .select_related("raised_by", "backlog_item")
        .order_by("-created_at")
    )


# --- theme list and comparison ------------------------------------------------------------------

THEME_LIST_SORTS = {
    "area": lambda row: ((row.theme.parent.name if row.theme.parent else "~").lower(), row.theme.name.lower()),
    "name": lambda row: (row.theme.name.lower(),),
    "-volume": lambda row: (-row.count, row.theme.name.lower()),
    "-change": lambda row: (-row.delta, -row.count, row.theme.name.lower()),
    "-customers": lambda row: (-(row.customers or 0), -row.count, row.theme.name.lower()),
    "-arr": lambda row: (-(row.arr or 0), -row.count, row.theme.name.lower()),
}


def active_granular_themes() -> QuerySet[Theme]:
    """What every page counts as an active theme: active and not the area of other active themes
    (an area is a heading, counted apart)."""
    has_children = Exists(Theme.objects.filter(parent_id=OuterRef("pk"), status=ThemeStatus.ACTIVE))
    return Theme.objects.filter(status=ThemeStatus.ACTIVE).exclude(has_children)


def theme_list_rows(*, period: Period, segment: Segment, q: str = "", sort: str = "area") -> list[ThemeRow]:
    """Active granular themes (those without active sub-themes) matching ``q``, with their volume,
    distinct customers and ARR affected (one grouped query each, over the period's assignments)."""
    themes = active_granular_themes().select_related("parent")
    if q:
        themes = themes.filter(Q(name__icontains=q) | Q(description__icontains=q) | Q(parent__name__icontains=q))
    now = _per_theme(theme_ticket_counts(period=period, segment=segment))
    before = _per_theme(theme_ticket_counts(period=period.previous(), segment=segment))
    link = theme_tickets_links(period=period, segment=segment)
    listed = list(themes)
    busy = [theme.pk for theme in listed if now.get(theme.pk)]
    customers = theme_customers(period=period, segment=segment, theme_ids=busy)
    arr = theme_arr(period=period, segment=segment, theme_ids=busy)
    rows = [
        ThemeRow(theme=theme, count=now.get(theme.pk, 0), previous=before.get(theme.pk, 0), link=link(theme.pk),
                 customers=customers.get(theme.pk, 0), arr=arr.get(theme.pk))
        for theme in listed
    ]
    rows.sort(key=THEME_LIST_SORTS.get(sort, THEME_LIST_SORTS["area"]))  # type: ignore[arg-type]
    return rows


def theme_arr(*, period: Period, segment: Segment, theme_ids: Sequence[int]) -> dict[int, Decimal]:
    """Per theme, the ARR of the distinct organizations whose tickets it holds in the period
    (each organization counted once per theme; organizations without a known ARR add nothing)."""
    if not theme_ids:
        return {}
    first, last = period.bounds()
    pairs = (
        TicketTheme.objects.filter(segment.ticket_q("ticket__"), theme_id__in=list(theme_ids),
                                   ticket__created_at__gte=first, ticket__created_at__lt=last,
                                   ticket__organization__arr__isnull=False)
        .values_list("theme_id", "ticket__organization_id", "ticket__organization__arr")
        .distinct()
        .order_by()
    )
    total: dict[int, Decimal] = defaultdict(Decimal)
    for theme_id, _organization, value in pairs:
        total[theme_id] += value or Decimal(0)
    return dict(total)


@dataclass
class Comparison:
    """Themes in two periods: ``count`` is the later period, ``previous`` the earlier one."""

    grew: list[ThemeRow] = field(default_factory=list)
    shrank: list[ThemeRow] = field(default_factory=list)
    appeared: list[ThemeRow] = field(default_factory=list)
    disappeared: list[ThemeRow] = field(default_factory=list)
    steady: int = 0
    before_total: int = 0
    after_total: int = 0

    def all_rows(self) -> list[tuple[str, ThemeRow]]:
        return [(kind, row) for kind in ("appeared", "grew", "shrank", "disappeared") for row in getattr(self, kind)]


def themes_compare(*, before: Period, after: Period, segment: Segment) -> Comparison:
    then = _per_theme(theme_ticket_counts(period=before, segment=segment))
    now = _per_theme(theme_ticket_counts(period=after, segment=segment))
    themes = Theme.objects.filter(pk__in=set(then) | set(now)).select_related("parent")
    result = Comparison(before_total=sum(then.values()), after_total=sum(now.values()))
    link, previous_link = (theme_tickets_links(period=p, segment=segment) for p in (after, before))
    for theme in themes:
        row = ThemeRow(theme=theme, count=now.get(theme.pk, 0), previous=then.get(theme.pk, 0),
                       link=link(theme.pk), previous_link=previous_link(theme.pk))
        if not row.previous:
            result.appeared.append(row)
        elif not row.count:
            result.disappeared.append(row)
        elif row.delta > 0:
            result.grew.append(row)
        elif row.delta < 0:
            result.shrank.append(row)
        else:
            result.steady += 1
    result.appeared.sort(key=lambda row: (-row.count, row.theme.name))
    result.disappeared.sort(key=lambda row: (-row.previous, row.theme.name))
    result.grew.sort(key=lambda row: (-row.delta, row.theme.name))
    result.shrank.sort(key=lambda row: (row.delta, row.theme.name))
    return result


# --- the dashboard, in one read -----------------------------------------------------------------

TOP_THEMES_SHOWN = 10
RISING_THEMES_SHOWN = 6
CHART_AREAS = 6


@dataclass
class Dashboard:
    rows: list[ThemeRow]
    top: list[ThemeRow]
    rising: list[ThemeRow]
    totals: VolumeTotals
    daily_totals: dict[date, int]
    daily_mix: list[tuple[str, dict[date, int]]]
    spikes: list[SpikeAlert]


def dashboard_overview(*, period: Period, segment: Segment, with_customers: bool = False) -> Dashboard:
    """Top and rising themes, the volume per day and the theme mix, spikes (``stats_cached``).

    Distinct customers per theme are counted only ``with_customers`` (for every theme: the CSV
    export); the page asks for those of the themes it shows with ``theme_customers`` in a second
    request, since counting them reads the period's tickets and assignments.
    """
    return stats_cached("dashboard", period, segment, with_customers, compute=partial(
        _dashboard_overview, period=period, segment=segment, with_customers=with_customers))


def _dashboard_overview(*, period: Period, segment: Segment, with_customers: bool) -> Dashboard:
    rows = theme_rows(period=period, segment=segment)
    current = [row for row in rows if row.count]
    if with_customers:
        customers = theme_customers(period=period, segment=segment, theme_ids=[row.theme.pk for row in current])
        for row in current:
            row.customers = customers.get(row.theme.pk, 0)
    daily_totals = daily_ticket_totals(period=period, segment=segment)
    return Dashboard(
        rows=current, top=current[:TOP_THEMES_SHOWN], rising=rising_rows(current)[:RISING_THEMES_SHOWN],
        totals=volume_totals(period=period, segment=segment, tickets=sum(daily_totals.values())),
        daily_totals=daily_totals,
        daily_mix=_daily_mix(current, theme_ticket_counts(period=period, segment=segment, by=("theme_id", "day"))),
        spikes=spike_alerts_in(period=period),
    )


def _daily_mix(rows: list[ThemeRow], counts: dict[tuple[Any, ...], int]) -> list[tuple[str, dict[date, int]]]:
    """Tickets per day of the busiest areas (a theme without an area stands for itself), the rest
    summed as "Other areas": with a hundred granular themes, their areas are the readable mix."""
    area_of = {row.theme.pk: row.theme.parent or row.theme for row in rows}
    volume: dict[int, int] = defaultdict(int)
    for row in rows:
        volume[area_of[row.theme.pk].pk] += row.count
    charted = sorted(volume, key=lambda pk: -volume[pk])[:CHART_AREAS]
    names = {area.pk: area.name for area in area_of.values()}
    series: dict[int, dict[date, int]] = {pk: {} for pk in [*charted, 0]}
    for (theme_id, day), n in counts.items():
        area = area_of.get(theme_id)
        key = area.pk if area is not None and area.pk in charted else 0
        series[key][day] = series[key].get(day, 0) + n
    return [(names[pk] if pk else "Other areas", series[pk]) for pk in [*charted, 0] if series[pk]]


# --- the support lead's queue and suggestions -----------------------------------------------------------

MERGE_TARGETS = 3
# Below this cosine similarity an active theme is not offered as a merge target of a suggestion.
MERGE_SIMILARITY = 0.35
# A run still "running" after this long died without recording it (a killed worker).
DISCOVERY_STALE_AFTER = timedelta(hours=2)


def triage_queue(*, order: str) -> QuerySet[TicketAnalysis]:
    """Tickets the model could not theme confidently, with what a row shows, in one query.

    "Most affected" ranks by the organization's ARR: a wrong or missing theme on a big customer's
    ticket is what skews revenue-weighted demand on the roadmap most; ties go newest first. It reads
    the ARR and created time copied onto the analysis (``triage_order_refresh``), in the order of
    their partial index; "newest" walks the tickets' created_at index. Both stop after a page.
    """
    queue = TicketAnalysis.objects.filter(needs_triage=True, no_request=False).select_related(
        "ticket", "ticket__source", "ticket__organization", "ticket__requester", "best_theme"
    ).defer("vector", "sentences")
    if order == "affected":
        return queue.order_by("-triage_arr", "-triage_created_at", "-ticket_id")
    return queue.order_by("-ticket__created_at", "-ticket_id")


@dataclass(frozen=True)
class Guess:
    """One of the model's candidate themes for a triage row. ``offered``: confident enough to be
    filed with one key (``TRIAGE_GUESS_FLOOR``); a weaker guess is shown but never the default."""

    theme: Theme
    confidence: float
    offered: bool


TRIAGE_GUESSES = 3


def triage_guesses(items: Sequence[TicketAnalysis]) -> dict[int, list[Guess]]:
    """The active model's top candidate active themes per ticket, with calibrated confidence,
    computed for the rows shown (a page, never the queue), best first. A ticket the model cannot
    score now (no active model, no vector) shows the best guess stored when it was assigned."""
    floor = float(getattr(settings, "THREADLINE_TRIAGE_GUESS_FLOOR", 0.3))
    guesses = {
        item.ticket_id: [Guess(theme=item.best_theme, confidence=item.best_confidence,
                               offered=item.best_confidence >= floor)]
        for item in items
        if item.best_theme is not None and item.best_theme.status == ThemeStatus.ACTIVE
        and item.best_confidence is not None
    }
    version = ModelVersion.objects.filter(kind=ModelKind.CLASSIFIER, is_active=True).first()
    analyses = list(TicketAnalysis.objects.filter(
        ticket_id__in=[item.ticket_id for item in items], vector__isnull=False,
    ).only("ticket_id", "text", "vector")) if version is not None and items else []
    if version is None or not analyses:
        return guesses
    model = model_version_load(version)
    ranked = model.predict(vectors_of(analyses), [a.text for a in analyses], top=TRIAGE_GUESSES + 1)
    themes = Theme.objects.filter(status=ThemeStatus.ACTIVE).in_bulk(
        {int(key) for row in ranked for key, _ in row if key.isdigit()}
    )
    for analysis, row in zip(analyses, ranked, strict=True):
        scored = [Guess(theme=themes[int(key)], confidence=confidence, offered=confidence >= floor)
                  for key, confidence in row if key.isdigit() and int(key) in themes][:TRIAGE_GUESSES]
        if scored:
            guesses[analysis.ticket_id] = scored
    return guesses


def triage_item(*, ticket_id: int) -> TicketAnalysis:
    """One row of the queue (also after it left it); raises TicketAnalysis.DoesNotExist."""
    return TicketAnalysis.objects.select_related(
        "ticket", "ticket__source", "ticket__organization", "ticket__requester", "best_theme"
    ).defer("vector", "sentences").get(ticket_id=ticket_id)


def corrections_since_training() -> tuple[int, ModelVersion | None]:
    """People's ticket decisions the active assignment model has not learnt yet, and that model."""
    active = ModelVersion.objects.filter(kind=ModelKind.CLASSIFIER, is_active=True).first()
    changes = ThemeChange.objects.filter(action__in=CORRECTION_ACTIONS)
    if active is not None:
        changes = changes.filter(created_at__gt=active.created_at)
    return changes.count(), active


@dataclass
class Suggestion:
    theme: Theme
    size: int
    examples: list[Ticket] = field(default_factory=list)
    merge_targets: list[tuple[Theme, float]] = field(default_factory=list)


def suggestions(*, themes: list[Theme]) -> list[Suggestion]:
    """Cards for suggested themes: example tickets (one query for all) and the active themes
    closest to each (centroid cosine similarity, one query) as merge targets."""
    example_ids = {pk for theme in themes for pk in theme.example_ticket_ids[:3]}
    examples = Ticket.objects.select_related("organization").in_bulk(list(example_ids))
    targets = _merge_targets(themes)
    return [
        Suggestion(
            theme=theme, size=getattr(theme, "member_count", theme.suggested_size),
            examples=[examples[pk] for pk in theme.example_ticket_ids[:3] if pk in examples],
            merge_targets=targets.get(theme.pk, []),
        )
        for theme in themes
    ]


def _merge_targets(themes: list[Theme]) -> dict[int, list[tuple[Theme, float]]]:
    candidates = list(
        Theme.objects.filter(status=ThemeStatus.ACTIVE, centroid__isnull=False).only(
            "pk", "name", "centroid", "centroid_representation"
        )
    )
    result: dict[int, list[tuple[Theme, float]]] = {}
    for theme in themes:
        if not theme.centroid:
            continue
        mine = np.frombuffer(bytes(theme.centroid), dtype=np.float32)
        same_space = [c for c in candidates if c.centroid_representation == theme.centroid_representation]
        scored = []
        for candidate in same_space:
            theirs = np.frombuffer(bytes(candidate.centroid or b""), dtype=np.float32)
            if theirs.shape != mine.shape:
                continue
            norm = float(np.linalg.norm(mine) * np.linalg.norm(theirs)) or 1.0
            scored.append((candidate, float(mine @ theirs) / norm))
        scored.sort(key=lambda pair: -pair[1])
        result[theme.pk] = [(c, s) for c, s in scored[:MERGE_TARGETS] if s >= MERGE_SIMILARITY]
    return result


def suggested_themes_queryset() -> QuerySet[Theme]:
    return (
        Theme.objects.filter(status=ThemeStatus.SUGGESTED)
        .select_related("parent", "discovery_run")
        .annotate(member_count=Count("ticket_themes"))
        .order_by("-member_count", "name")
    )


def discovery_latest() -> DiscoveryRun | None:
    return DiscoveryRun.objects.order_by("-started_at", "-id").first()


def discovery_is_running(run: DiscoveryRun | None) -> bool:
    return bool(
        run is not None
        and run.status == DiscoveryRunStatus.RUNNING
        and run.started_at > timezone.now() - DISCOVERY_STALE_AFTER
    )
