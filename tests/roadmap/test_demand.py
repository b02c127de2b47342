"""Demand per backlog item on a small hand-made dataset (see ``World`` in conftest for the tickets)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from insights.models import Theme, ThemeStatus
from roadmap.models import BacklogItem
from roadmap.selectors import (
    backlog_board,
    backlog_demand,
    backlog_item_customers,
    backlog_item_links,
    backlog_item_quotes,
    backlog_item_ship_impact,
    backlog_item_themes,
    unaddressed_demand,
)
from roadmap.services import backlog_item_create, escalation_link, escalation_raise
from tests.roadmap.conftest import make_ticket

pytestmark = pytest.mark.django_db


def _item(user, title, *themes, status="planned") -> BacklogItem:
    return backlog_item_create(user=user, title=title, status=status, themes=list(themes))


def test_demand_counts_distinct_customers_organizations_and_their_arr(world, product_manager, last_30_days) -> None:
    item = _item(product_manager, "Stream CSV exports", world.csv)

    demand = backlog_demand(period=last_30_days)[item.pk]

    # Mia x3, Bob, Zoe: 5 tickets from 3 customers of 2 organizations (Acme 50,000 + Beta 10,000).
    assert (demand.tickets, demand.customers, demand.organizations) == (5, 3, 2)
    assert demand.arr == Decimal("60000")
    # The 30 days before: Bob's one ticket.
    assert (demand.previous_tickets, demand.previous_customers) == (1, 1)
    assert demand.customers_change_percent == 200


def test_linking_a_parent_theme_counts_its_sub_themes_once_per_ticket(world, product_manager, last_30_days) -> None:
    area = _item(product_manager, "Exports overhaul", world.exports)
    both = _item(product_manager, "Export fixes", world.csv, world.pdf)

    demand = backlog_demand(period=last_30_days)

    # Zoe's ticket is in CSV and PDF: counted once.
    assert (demand[area.pk].tickets, demand[area.pk].customers) == (5, 3)
    assert (demand[both.pk].tickets, demand[both.pk].customers) == (5, 3)
    assert backlog_item_themes(item=area) == {world.exports.pk, world.csv.pk, world.pdf.pk}


def test_an_item_without_links_has_no_demand_and_escalations_count(world, product_manager, support_lead,
                                                                    last_30_days, ticket) -> None:
    item = _item(product_manager, "Not linked yet")
    escalation = escalation_raise(user=support_lead, ticket=ticket, severity="high", note="Blocked")
    escalation_link(escalation=escalation, item=item, user=product_manager)

    demand = backlog_demand(period=last_30_days)[item.pk]

    assert (demand.tickets, demand.customers, demand.arr, demand.escalations) == (0, 0, Decimal(0), 1)


def test_the_board_ranks_by_distinct_customers_not_by_tickets(world, product_manager, source, last_30_days) -> None:
    loud = Theme.objects.create(name="Dark mode", status=ThemeStatus.ACTIVE)
    for i in range(8):
        make_ticket(source, f"L{i}", email="loud@example.test", days_ago=2, themes=(loud,))
    quiet = _item(product_manager, "Fix login loops", world.login)  # 2 tickets, 1 customer
    exports = _item(product_manager, "Stream CSV exports", world.csv)  # 5 tickets, 3 customers
    one_loud = _item(product_manager, "Dark mode", loud)  # 8 tickets, 1 customer

    planned = next(c for c in backlog_board(period=last_30_days) if c.status == "planned")
    by_tickets = next(c for c in backlog_board(period=last_30_days, sort="tickets") if c.status == "planned")

    assert [row.item for row in planned.rows] == [exports, one_loud, quiet]
    assert [row.item for row in by_tickets.rows] == [one_loud, exports, quiet]


def test_the_board_reads_demand_in_a_fixed_number_of_queries(world, product_manager, last_30_days,
                                                             django_assert_max_num_queries) -> None:
    for i in range(12):
        _item(product_manager, f"Item {i}", world.csv if i % 2 else world.exports, status=["idea", "planned"][i % 2])

    # items, their links, the theme tree, demand, escalations (+3 on PostgreSQL: a savepoint and work_mem)
    with django_assert_max_num_queries(9):
        columns = backlog_board(period=last_30_days)
        assert sum(len(c.rows) for c in columns) == 12
        assert all(row.item.theme_links.all()[0].theme.name for c in columns for row in c.rows)


def test_each_linked_theme_shows_its_own_demand(world, product_manager, last_30_days) -> None:
    item = _item(product_manager, "Exports and login", world.exports, world.login)

    rows = backlog_item_links(item=item, period=last_30_days)

    assert [(r.link.theme.name, r.demand.tickets, r.demand.customers, r.sub_themes) for r in rows] == [
        ("Exports", 5, 3, 2), ("Login loops", 2, 1, 0)]


def test_affected_customers_are_listed_with_their_ticket_counts(world, last_30_days) -> None:
    rows = list(backlog_item_customers(theme_ids={world.csv.pk}, period=last_30_days))

    assert [(r["requester__email"], r["tickets"], r["organization__name"]) for r in rows] == [
        ("mia@acme.test", 3, "Acme"), ("bob@beta.test", 1, "Beta"), ("zoe@acme.test", 1, "Acme")]


def test_quotes_come_from_different_customers_most_confident_first(world, last_30_days) -> None:
    quotes = backlog_item_quotes(theme_ids={world.csv.pk}, period=last_30_days)

    assert len(quotes) == 3
    assert quotes[0].text == "Our export is cut off."
    assert len({q.ticket.requester_id for q in quotes}) == 3


def test_unaddressed_demand_leaves_out_themes_covered_by_open_items(world, product_manager, last_30_days) -> None:
    _item(product_manager, "Exports overhaul", world.exports)
    _item(product_manager, "Login fixed", world.login, status="shipped")

    result = unaddressed_demand(period=last_30_days)

    # CSV and PDF are covered through their area; the login fix shipped, so its demand is open again.
    assert [(r.theme.name, r.count, r.previous, r.customers) for r in result.largest] == [("Login loops", 2, 1, 1)]
    assert [i.title for i in result.largest[0].closed_items] == ["Login fixed"]
    assert result.addressed_themes == 2


def test_unaddressed_demand_lists_growing_themes_in_a_fixed_number_of_queries(
    world, source, last_30_days, django_assert_max_num_queries
) -> None:
    for i in range(6):
        make_ticket(source, f"G{i}", email=f"g{i}@example.test", days_ago=1, themes=(world.pdf,))
    from insights.services import theme_stats_mark_dirty, theme_stats_refresh
    theme_stats_mark_dirty(ticket_ids=list(source.tickets.values_list("pk", flat=True)))
    theme_stats_refresh()

    with django_assert_max_num_queries(7):
        result = unaddressed_demand(period=last_30_days)

    assert [r.theme.name for r in result.growing] == ["PDF layout", "CSV limit"]  # 7 vs 0, then 5 vs 1
    assert result.growing[0].change_percent is None  # new: nothing the period before


def test_ship_impact_compares_weekly_shares_before_and_after(product_manager, source) -> None:
    fading = Theme.objects.create(name="Zapier disconnects", status=ThemeStatus.ACTIVE)
    other = Theme.objects.create(name="Other", status=ThemeStatus.ACTIVE)
    n = 0
    for week in range(12):
        days_ago = 7 * (12 - week) - 3
        for _ in range(10 if week < 6 else 1):
            n += 1
            make_ticket(source, f"F{n}", email=f"f{n}@example.test", days_ago=days_ago, themes=(fading,))
        for _ in range(10):
            n += 1
            make_ticket(source, f"O{n}", email=f"o{n}@example.test", days_ago=days_ago, themes=(other,))
    item = _item(product_manager, "Reconnect Zapier automatically", fading, status="shipped")
    item.shipped_at = timezone.now() - timedelta(days=42)
    item.save()

    result = backlog_item_ship_impact(item=item, theme_ids=backlog_item_themes(item=item))

    assert result.theme_counts == [10] * 6 + [1] * 6
    assert result.totals == [20] * 6 + [11] * 6
    assert result.impact.verdict == "down"
    assert result.impact.sentence().startswith("Down 82%")
