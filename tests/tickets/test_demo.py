"""The demo data generator (a pure library) and the ``seed_demo`` command that imports its output."""

from __future__ import annotations

import dataclasses
import io
import statistics
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tickets.demo import (
    FADING_PROBLEM,
    SPIKE_PROBLEM,
    demo_records,
    demo_timeline,
    demo_truth,
)
from tickets.demo_catalog import AREAS, GENERIC_TAGS, PROBLEMS
from tickets.models import Message, Organization, Source, SourceKind, SyncRun, Ticket
from tickets.records import TicketRecord

TODAY = date(2026, 3, 1)
Truth = dict[str, tuple[str, ...]]


@pytest.fixture(scope="module")
def records() -> list[TicketRecord]:
    return list(demo_records(count=3000, seed=7, today=TODAY))


@pytest.fixture(scope="module")
def truth() -> Truth:
    return demo_truth(count=3000, seed=7, today=TODAY)


def daily_rate(records: list[TicketRecord], truth: Truth, problem: str, start: date, end: date) -> float:
    hits = sum(1 for r in records if problem in truth[r.external_id] and start <= r.created_at.date() < end)
    return hits / (end - start).days


def test_the_same_seed_and_day_give_identical_records() -> None:
    first = list(demo_records(count=300, seed=5, today=TODAY))

    assert first == list(demo_records(count=300, seed=5, today=TODAY))
    assert demo_truth(count=300, seed=5, today=TODAY) == demo_truth(count=300, seed=5, today=TODAY)


def test_a_different_seed_gives_different_records() -> None:
    first = list(demo_records(count=300, seed=5, today=TODAY))
    other = list(demo_records(count=300, seed=6, today=TODAY))

    assert [r.messages[0].body for r in first] != [r.messages[0].body for r in other]
    assert [r.created_at for r in first] != [r.created_at for r in other]


def test_it_generates_the_requested_tickets_with_a_truth_for_each(
    records: list[TicketRecord], truth: Truth
) -> None:
    ids = [r.external_id for r in records]

    assert len(ids) == len(set(ids)) == 3000
    assert set(truth) == set(ids)
    assert [r.created_at for r in records] == sorted(r.created_at for r in records)


def test_organizations_have_plans_arr_and_customers_at_their_domain(records: list[TicketRecord]) -> None:
    orgs = {r.organization.external_id: r.organization for r in records if r.organization}
    customers = {r.requester.external_id: r for r in records if r.requester}

    assert 200 <= len(orgs) <= 300
    assert len(customers) > 1.5 * len(orgs)
    assert {org.plan for org in orgs.values()} == {"free", "starter", "pro", "enterprise"}
    arr = defaultdict(list)
    for org in orgs.values():
        arr[org.plan].append(org.arr)
    assert set(arr["free"]) == {0}
    medians = [statistics.median(arr[plan]) for plan in ("starter", "pro", "enterprise")]
    assert 0 < medians[0] < medians[1] < medians[2]
    for record in customers.values():
        assert record.requester and record.organization
        domain = record.requester.email.split("@")[1]
        assert domain.endswith(".example") and record.organization.name
    assert len({org.name for org in orgs.values()}) == len(orgs)


def test_every_problem_appears_with_a_long_tail(truth: Truth) -> None:
    per_problem = Counter(key for keys in truth.values() for key in keys)

    assert len(PROBLEMS) >= 30 and 4 <= len(AREAS) <= 6
    assert set(per_problem) == {problem.key for problem in PROBLEMS}
    most, *_, least = [count for _, count in per_problem.most_common()]
    assert most > 5 * least
    shapes = Counter(len(keys) for keys in truth.values())
    assert shapes[0] > 100 and shapes[2] > 100  # noise tickets, and tickets raising two problems


def test_weekdays_are_busier_than_weekends(records: list[TicketRecord]) -> None:
    timeline = demo_timeline(TODAY)
    per_day = Counter(r.created_at.date() for r in records)
    days = [timeline.start + timedelta(days=offset) for offset in range((TODAY - timeline.start).days)]

    weekday = statistics.mean(per_day[day] for day in days if day.weekday() < 5)
    weekend = statistics.mean(per_day[day] for day in days if day.weekday() >= 5)

    assert weekday > 2 * weekend
    assert min(r.created_at.date() for r in records) >= timeline.start


def test_the_spike_problem_jumps_after_its_date(records: list[TicketRecord], truth: Truth) -> None:
    timeline = demo_timeline(TODAY)

    before = daily_rate(records, truth, SPIKE_PROBLEM, timeline.start, timeline.spike_date)
    after = daily_rate(records, truth, SPIKE_PROBLEM, timeline.spike_date, TODAY)

    assert after > 8 * before
    released = [r for r in records if r.created_at.date() >= timeline.spike_date]
    crashes = [r for r in released if SPIKE_PROBLEM in truth[r.external_id]]
    assert any("5.2" in message.body for r in crashes for message in r.messages)  # the release that broke it


def test_the_fading_problem_fades(records: list[TicketRecord], truth: Truth) -> None:
    timeline = demo_timeline(TODAY)

    before = daily_rate(records, truth, FADING_PROBLEM, timeline.start, timeline.fade_date)
    lately = daily_rate(records, truth, FADING_PROBLEM, TODAY - timedelta(days=60), TODAY)

    assert lately < before / 4


def test_chats_are_conversations_with_agents_and_bots(records: list[TicketRecord], truth: Truth) -> None:
    chats = [r for r in records if r.channel == "chat" and truth[r.external_id]]
    roles = [[m.author_role for m in r.messages] for r in chats]

    assert len(chats) > 500
    assert statistics.mean(len(turns) for turns in roles) >= 4
    assert all("agent" in turns for turns in roles if len(turns) > 1)
    assert sum("agent" in turns for turns in roles) > 0.95 * len(chats)
    assert sum(turns.count("customer") >= 2 for turns in roles) > 0.5 * len(chats)
    assert sum("bot" in turns for turns in roles) > 0.3 * len(chats)


def test_texts_carry_the_mess_real_tickets_have(records: list[TicketRecord]) -> None:
    bodies = [m.body for r in records for m in r.messages if m.author_role == "customer"]

    def share(needle: str) -> float:
        return sum(needle in body for body in bodies) / len(bodies)

    assert share(" wrote:\n>") > 0.02  # Gmail and Apple Mail quotes
    assert share("From: ") > 0.02  # Outlook quotes
    assert share("Sent from my iPhone") > 0.01
    assert share("+1 555 01") + share("+44 20 7946") > 0.02  # signatures with phone numbers
    assert share("Topic: ") > 0.03  # web forms
    openings = Counter(r.messages[0].body.split("\n", 1)[0] for r in records if r.channel == "email")
    assert len(openings) > 100  # greetings and first lines vary
    assert any(m.is_public is False for r in records for m in r.messages)


def test_resolution_time_and_csat_differ_by_problem(records: list[TicketRecord], truth: Truth) -> None:
    hours, scores = defaultdict(list), defaultdict(list)
    for r in records:
        if len(truth[r.external_id]) == 1 and r.solved_at:
            hours[truth[r.external_id][0]].append((r.solved_at - r.created_at).total_seconds() / 3600)
        if len(truth[r.external_id]) == 1 and r.csat:
            scores[truth[r.external_id][0]].append(r.csat)

    medians = [statistics.median(values) for values in hours.values()]
    means = [statistics.mean(values) for values in scores.values() if len(values) >= 10]

    assert max(medians) > 10 * min(medians)
    assert max(means) - min(means) > 1.5
    assert any(r.reopen_count for r in records)
    assert {r.status for r in records} >= {"open", "pending", "solved", "closed"}


def test_no_field_gives_the_true_problem_away(records: list[TicketRecord], truth: Truth) -> None:
    coarse = {tag for area in AREAS for tag in area.tags} | set(GENERIC_TAGS)
    keys = {problem.key for problem in PROBLEMS}
    titles = {problem.title for problem in PROBLEMS}

    assert {tag for r in records for tag in r.tags} <= coarse
    assert sum(not r.tags for r in records) > 0.2 * len(records)
    assert not {r.subject for r in records} & titles
    for record in records:
        flat = repr(dataclasses.asdict(record))
        assert not any(key in flat for key in keys), record.external_id


def test_every_time_is_before_today_and_in_order(records: list[TicketRecord]) -> None:
    now = demo_timeline(TODAY).now
    for r in records:
        times = [m.created_at for m in r.messages]
        assert times == sorted(times) and times[0] == r.created_at
        assert times[-1] <= now and (r.updated_at or now) <= now
        assert r.solved_at is None or r.created_at < r.solved_at <= now
        assert (r.solved_at is not None) == (r.status in {"solved", "closed"})


def store_snapshot() -> tuple[list[dict], list[dict], list[dict]]:
    return (
        list(Ticket.objects.order_by("pk").values()),
        list(Message.objects.order_by("pk").values()),
        list(Organization.objects.order_by("pk").values()),
    )


@pytest.mark.django_db
def test_seed_demo_imports_into_the_demo_source_and_a_rerun_changes_nothing() -> None:
    out = io.StringIO()

    call_command("seed_demo", "--tickets", "200", "--today", "2026-03-01", stdout=out)

    source = Source.objects.get(name="Demo help desk")
    assert source.kind == SourceKind.DEMO
    assert "200 created, 0 updated, 0 unchanged" in out.getvalue()
    assert Ticket.objects.filter(source=source).count() == 200
    assert Message.objects.filter(ticket__source=source).count() > 600
    assert Organization.objects.filter(source=source).exclude(plan="").count() >= 20
    snapshot = store_snapshot()

    out = io.StringIO()
    call_command("seed_demo", "--tickets", "200", "--today", "2026-03-01", stdout=out)

    assert "0 created, 0 updated, 200 unchanged" in out.getvalue()
    assert store_snapshot() == snapshot
    assert list(SyncRun.objects.filter(source=source).values_list("status", flat=True)) == ["succeeded"] * 2


@pytest.mark.django_db
def test_seed_demo_defaults_to_today_in_utc_and_takes_a_source_name() -> None:
    call_command("seed_demo", "--tickets", "30", "--seed", "3", "--source", "Sales demo",
                 stdout=io.StringIO())

    tickets = Ticket.objects.filter(source__name="Sales demo", source__kind=SourceKind.DEMO)
    now = datetime.now(UTC)
    assert tickets.count() == 30
    assert all(now - timedelta(days=181) < t.created_at < now for t in tickets)


@pytest.mark.django_db
def test_seed_demo_refuses_to_mix_demo_tickets_into_a_real_source(source: Source) -> None:
    with pytest.raises(CommandError, match="demo sources"):
        call_command("seed_demo", "--tickets", "10", "--source", source.name, stdout=io.StringIO())

    assert not Ticket.objects.exists()
