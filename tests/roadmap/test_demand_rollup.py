"""The board's demand rollup and preset-period snapshot against the live count from the tickets."""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from insights.models import Theme, ThemeStatDirtyDay, ThemeStatus, TicketTheme
from insights.selectors import Period
from insights.services import theme_stats_refresh
from roadmap.models import BacklogDemandBuild, BacklogDemandDay, BacklogDemandSnapshot, BacklogItem, ThemeLink
from roadmap.selectors import (
    SNAPSHOT_DAYS,
    backlog_demand,
    backlog_demand_from_rollup,
    backlog_demand_live,
    backlog_item_theme_sets,
)
from roadmap.services import backlog_demand_rebuild, backlog_item_create, theme_link_create, theme_link_delete
from tests.roadmap.conftest import make_ticket
from tickets.models import Customer, Organization, Ticket

pytestmark = pytest.mark.django_db


def _periods() -> list[Period]:
    today = timezone.localdate()
    presets = [Period(start=today - timedelta(days=days - 1), end=today) for days in SNAPSHOT_DAYS]
    return [*presets, Period(start=today - timedelta(days=50), end=today - timedelta(days=12))]


def _random_world(source, seed: int) -> list[BacklogItem]:
    """Two areas with four sub-themes each, 300 tickets over 200 days from 40 customers of 8
    organizations (some without ARR, some customers without one), each in one or two themes, and
    six items linking themes and areas (overlapping)."""
    rng = random.Random(seed)
    areas = [Theme.objects.create(name=f"Area {a}", status=ThemeStatus.ACTIVE) for a in range(2)]
    themes = [Theme.objects.create(name=f"Theme {a}.{i}", status=ThemeStatus.ACTIVE, parent=area)
              for a, area in enumerate(areas) for i in range(4)]
    orgs = [Organization.objects.create(source=source, external_id=f"o{i}", name=f"Org {i}",
                                        arr=Decimal(rng.choice([0, 1200, 48000, 150000])) if i % 4 else None)
            for i in range(8)]
    customers = [Customer.objects.create(source=source, external_id=f"c{i}", email=f"c{i}@example.test",
                                         organization=orgs[i % 8] if i % 5 else None) for i in range(40)]
    now = timezone.now()
    tickets = Ticket.objects.bulk_create(
        Ticket(source=source, external_id=f"R{i}", requester=customer, organization=customer.organization,
               created_at=now - timedelta(days=rng.randrange(200), hours=rng.randrange(24)), content_hash="x")
        for i, customer in enumerate(rng.choice(customers) for _ in range(300))
    )
    TicketTheme.objects.bulk_create(
        TicketTheme(ticket=ticket, theme=theme, confidence=0.9, method="model")
        for ticket in tickets for theme in rng.sample(themes, rng.choice([1, 1, 1, 2]))
    )
    links = [(themes[0],), (themes[0], themes[1]), (areas[0],), (areas[1], themes[2]), (themes[5], themes[6]), ()]
    return [backlog_item_create(user=None, title=f"Item {i}", status="planned", themes=list(linked))
            for i, linked in enumerate(links)]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_rollup_and_the_snapshot_equal_the_live_count_on_random_data(source, seed) -> None:
    items = _random_world(source, seed)
    item_themes = backlog_item_theme_sets()

    for period in _periods():
        live = backlog_demand_live(key_themes=item_themes, period=period)
        assert backlog_demand_from_rollup(item_themes=item_themes, period=period, cached=False) == live
        # The board's reader: the snapshot for the presets, the rollup for the custom period.
        board = backlog_demand(period=period)
        assert {pk: board[pk] for pk in live} == live
        assert items[-1].pk not in board  # linked to nothing: no demand
    assert BacklogDemandSnapshot.objects.filter(as_of=timezone.localdate()).count() == 5 * len(SNAPSHOT_DAYS)


def test_the_statistics_refresh_adds_new_tickets_of_a_dirty_day(world, product_manager, source) -> None:
    item = backlog_item_create(user=product_manager, title="Stream CSV exports", status="planned", themes=[world.csv])
    today = timezone.localdate()
    month = Period(start=today - timedelta(days=29), end=today)
    before = backlog_demand_from_rollup(item_themes={item.pk: {world.csv.pk}}, period=month, cached=False)[item.pk]

    ticket = make_ticket(source, "N1", email="new@example.test", organization="Newco", arr=7000, days_ago=1,
                         themes=(world.csv,))
    ThemeStatDirtyDay.objects.create(day=timezone.localdate(ticket.created_at))
    assert theme_stats_refresh() == 1

    after = backlog_demand_from_rollup(item_themes={item.pk: {world.csv.pk}}, period=month, cached=False)[item.pk]
    assert (after.tickets, after.customers, after.organizations) == (
        before.tickets + 1, before.customers + 1, before.organizations + 1)
    assert after.arr == before.arr + 7000


def test_the_refresh_keeps_the_preset_snapshot_of_today(world, product_manager, last_30_days) -> None:
    item = backlog_item_create(user=product_manager, title="Exports", status="planned", themes=[world.exports])
    BacklogDemandSnapshot.objects.update(as_of=timezone.localdate() - timedelta(days=1))

    theme_stats_refresh()  # no dirty day: the catch-up recomputes yesterday's snapshot

    snapshot = BacklogDemandSnapshot.objects.get(item=item, days=30)
    assert snapshot.as_of == timezone.localdate()
    assert (snapshot.tickets, snapshot.customers, snapshot.organizations) == (5, 3, 2)


def test_a_link_change_is_counted_at_once(world, product_manager, last_30_days) -> None:
    item = backlog_item_create(user=product_manager, title="Exports", status="planned", themes=[world.csv])
    assert backlog_demand(period=last_30_days)[item.pk].customers == 3

    theme_link_create(item=item, theme=world.login, user=product_manager)
    assert backlog_demand(period=last_30_days)[item.pk].customers == 4

    theme_link_delete(link=ThemeLink.objects.get(item=item, theme=world.csv), user=product_manager)
    assert (backlog_demand(period=last_30_days)[item.pk].tickets, BacklogDemandDay.objects.filter(item=item).count()
            ) == (2, 3)


def test_an_item_whose_themes_changed_elsewhere_is_counted_live_until_the_refresh(world, product_manager,
                                                                                   last_30_days) -> None:
    item = backlog_item_create(user=product_manager, title="Exports", status="planned", themes=[world.exports])
    Theme.objects.filter(pk=world.login.pk).update(parent=world.exports)  # the area now covers logins too

    demand = backlog_demand(period=last_30_days)[item.pk]
    assert (demand.tickets, demand.customers) == (7, 4)

    ThemeStatDirtyDay.objects.create(day=timezone.localdate())
    theme_stats_refresh()
    assert BacklogDemandBuild.objects.get(item=item).themes == sorted(backlog_item_theme_sets()[item.pk])
    rolled = backlog_demand_from_rollup(item_themes=backlog_item_theme_sets(), period=last_30_days, cached=False)
    assert rolled[item.pk] == demand


def test_a_full_rebuild_is_idempotent(world, product_manager) -> None:
    backlog_item_create(user=product_manager, title="Exports", status="planned", themes=[world.exports])
    rows = sorted(BacklogDemandDay.objects.values_list("item_id", "day", "requester_id", "organization_id", "tickets"))

    assert backlog_demand_rebuild() == 1
    assert sorted(BacklogDemandDay.objects.values_list("item_id", "day", "requester_id", "organization_id",
                                                       "tickets")) == rows
