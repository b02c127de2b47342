"""The product manager's pages over HTTP: dashboard, theme list, theme page, compare, CSV exports."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from insights.models import AssignmentMethod, SpikeAlert, Theme, ThemeStatus, TicketTheme
from insights.selectors import rising_p_value
from insights.services import theme_stats_mark_dirty, theme_stats_refresh
from roadmap.models import BacklogItem, Escalation, EscalationStatus, ThemeLink
from tickets.models import Organization, Ticket
from tickets.records import ticket_record_from_dict
from tickets.services import ingest_records

pytestmark = pytest.mark.django_db

PERSONAS = ["admin_user", "support_lead", "product_manager", "viewer", "outsider"]
READERS = {"admin_user", "support_lead", "product_manager", "viewer"}


@pytest.fixture(autouse=True)
def _empty_cache() -> None:
    """Pages keep some figures (the overall health, model explanations) in the cache for minutes."""
    cache.clear()


class World:
    """Themes with tickets on days counted back from today, organized so every number is known."""

    def __init__(self, source: Any) -> None:
        self.source = source
        self.count = 0
        self.area = Theme.objects.create(name="Payments", status=ThemeStatus.ACTIVE)
        self.cards = Theme.objects.create(name="Card declined abroad", status=ThemeStatus.ACTIVE, parent=self.area,
                                          description="Cards refused when paying in another country")
        self.export = Theme.objects.create(name="CSV export cut off", status=ThemeStatus.ACTIVE)
        self.sso = Theme.objects.create(name="SSO login loop", status=ThemeStatus.ACTIVE)
        self.gone = Theme.objects.create(name="Old invoice layout", status=ThemeStatus.ACTIVE)

    def tickets(self, theme: Theme | None, days_ago: list[int], **fields: Any) -> list[Ticket]:
        today = timezone.localdate()
        rows = []
        for days in days_ago:
            self.count += 1
            day = today - timedelta(days=days)
            rows.append({"external_id": f"W-{self.count}", "subject": f"{theme.name if theme else 'Hello'} #{self.count}",
                         "body": f"Something about {theme.name if theme else 'nothing'}.",
                         "created_at": f"{day.isoformat()}T10:00:00Z", "channel": "email",
                         "requester_email": f"user{self.count % 7}@acme.test", "organization": "Acme", "plan": "pro",
                         "arr": "12000", **fields})
        ingest_records(source=self.source, records=[ticket_record_from_dict(r) for r in rows])
        made = list(Ticket.objects.filter(external_id__in=[r["external_id"] for r in rows]))
        if theme is not None:
            TicketTheme.objects.bulk_create(
                TicketTheme(ticket=t, theme=theme, confidence=0.9, method=AssignmentMethod.MODEL,
                            explanation={"sentence": f"Something about {theme.name}.", "terms": [["about", 1.0]]})
                for t in made
            )
        theme_stats_mark_dirty(ticket_ids=[t.pk for t in made])
        theme_stats_refresh()
        return made


@pytest.fixture
def world(source) -> World:
    w = World(source)
    # Last 30 days: cards 4 (was 4), export 24 (was 2: a real rise), sso 3 (was 1: noise), gone 0 (was 3).
    w.tickets(w.cards, [1, 2, 3, 4])
    w.tickets(w.cards, [31, 32, 33, 34])
    w.tickets(w.export, [i % 20 for i in range(24)])
    w.tickets(w.export, [40, 41])
    w.tickets(w.sso, [1, 2, 3], channel="chat", organization="Globex", plan="enterprise", arr="90000")
    w.tickets(w.sso, [45])
    w.tickets(w.gone, [35, 36, 37])
    w.tickets(None, [2, 3])  # unthemed
    return w


def rows_of(response: Any) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


# --- permissions -----------------------------------------------------------------------------------------


def _pages(world: World) -> list[str]:
    return [reverse("dashboard"), reverse("theme_list"), reverse("theme_detail", args=[world.cards.pk]),
            reverse("compare"), reverse("dashboard") + "?format=csv"]


@pytest.mark.parametrize("persona", PERSONAS)
def test_every_dashboard_page_is_open_to_readers_only(request, client_for, world, persona) -> None:
    client = client_for(request.getfixturevalue(persona))

    statuses = {url: client.get(url).status_code for url in _pages(world)}

    assert set(statuses.values()) == ({200} if persona in READERS else {403})


def test_anonymous_visitors_are_sent_to_sign_in(client_for, world) -> None:
    for url in _pages(world):
        response = client_for(None).get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/login/?next=")


def test_an_unknown_theme_is_not_found(client_for, viewer) -> None:
    assert client_for(viewer).get(reverse("theme_detail", args=[999])).status_code == 404


# --- dashboard ----------------------------------------------------------------------------------------


def test_the_dashboard_shows_top_themes_with_changes_and_customers(client_for, product_manager, world) -> None:
    response = client_for(product_manager).get(reverse("dashboard"))

    top = [(row.theme.name, row.count, row.previous) for row in response.context["overview"].top]
    assert top == [("CSV export cut off", 24, 2), ("Card declined abroad", 4, 4), ("SSO login loop", 3, 1)]
    assert b'id="customers-top-%d"' % world.export.pk in response.content
    totals = response.context["overview"].totals
    assert (totals.tickets, totals.previous) == (33, 10)
    assert b"Volume and theme mix" in response.content
    assert b'class="plotly-chart" data-figure=' in response.content


def test_dashboard_and_theme_page_figures_are_kept_until_the_statistics_change(
    client_for, product_manager, world, django_capture_on_commit_callbacks, django_assert_max_num_queries
) -> None:
    client = client_for(product_manager)
    theme_url = reverse("theme_detail", args=[world.sso.pk])
    first = client.get(reverse("dashboard")).context["overview"].totals.tickets
    assert client.get(theme_url).context["profile"].tickets == 3
    with django_assert_max_num_queries(12):  # kept: no statistics are read again
        assert client.get(reverse("dashboard")).context["overview"].totals.tickets == first

    with django_capture_on_commit_callbacks(execute=True):  # the rebuild's version bump runs on commit
        world.tickets(world.sso, [1, 2])

    assert client.get(reverse("dashboard")).context["overview"].totals.tickets == first + 2
    assert client.get(theme_url).context["profile"].tickets == 5


def test_distinct_customers_load_into_the_tables_after_the_page(client_for, product_manager, world) -> None:
    page = client_for(product_manager).get(reverse("dashboard"))
    query = page.context["customers_query"]

    part = client_for(product_manager).get(f"{reverse('dashboard')}?{query}", HTTP_HX_REQUEST="true")

    assert f"top={world.export.pk}%2C{world.cards.pk}%2C{world.sso.pk}" in query
    assert part.status_code == 200
    assert b'<span id="customers-top-%d" hx-swap-oob="true">7</span>' % world.export.pk in part.content
    assert b'<span id="customers-rising-%d" hx-swap-oob="true">7</span>' % world.export.pk in part.content
    assert b'<span id="customers-top-%d" hx-swap-oob="true">3</span>' % world.sso.pk in part.content


def test_the_customers_part_is_guarded_like_the_page(client_for, outsider, world) -> None:
    assert client_for(outsider).get(reverse("dashboard"), {"part": "customers", "top": "1"}).status_code == 403


def test_rising_themes_are_significant_rises_not_small_numbers(client_for, product_manager, world) -> None:
    response = client_for(product_manager).get(reverse("dashboard"))

    assert [row.theme.name for row in response.context["overview"].rising] == ["CSV export cut off"]


def test_a_rise_from_one_to_three_is_not_significant_but_two_to_twenty_four_is() -> None:
    assert rising_p_value(count=3, previous=1, share_now=0.5) > 0.2
    assert rising_p_value(count=24, previous=2, share_now=0.5) < 0.001
    # A theme that only kept its share while every theme doubled did not rise.
    assert rising_p_value(count=20, previous=10, share_now=2 / 3) > 0.3


def test_every_number_links_to_the_tickets_behind_it(client_for, product_manager, world) -> None:
    client = client_for(product_manager)
    row = client.get(reverse("dashboard")).context["overview"].top[0]

    listed = client.get(row.link)

    assert listed.status_code == 200
    assert listed.context["page"].paginator.count == 24
    assert {t.subject.split(" #")[0] for t in listed.context["page"].object_list} == {"CSV export cut off"}
    assert client.get(row.previous_link).context["page"].paginator.count == 2


def test_the_unthemed_number_links_to_unthemed_tickets(client_for, product_manager, world) -> None:
    client = client_for(product_manager)
    page = client.get(reverse("dashboard"))
    totals = page.context["overview"].totals

    assert totals.unthemed == 2  # from the daily statistics, the same count as the list it links to
    assert "unthemed: tickets in no theme" in page.content.decode()
    assert client.get(totals.unthemed_link).context["page"].paginator.count == 2
    assert client.get(totals.link).context["page"].paginator.count == 33


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"period": "7"}, {"Card declined abroad": 4, "CSV export cut off": 11, "SSO login loop": 3}),
        ({"channel": "chat"}, {"SSO login loop": 3}),
        ({"plan": "enterprise"}, {"SSO login loop": 3}),
        ({"period": "custom", "start": "__today-45", "end": "__today-30"},
         {"Card declined abroad": 4, "CSV export cut off": 2, "SSO login loop": 1, "Old invoice layout": 3}),
    ],
    ids=["last-7-days", "channel", "plan", "custom-period"],
)
def test_the_dashboard_filters_by_period_and_segment(client_for, product_manager, world, query, expected) -> None:
    today = timezone.localdate()
    query = {k: (today - timedelta(days=int(v[8:]))).isoformat() if v.startswith("__today") else v
             for k, v in query.items()}

    response = client_for(product_manager).get(reverse("dashboard"), query)

    assert {row.theme.name: row.count for row in response.context["overview"].rows} == expected


def test_the_organization_filter_reads_the_tickets_of_that_organization(client_for, product_manager, world) -> None:
    globex = Organization.objects.get(name="Globex")

    response = client_for(product_manager).get(reverse("dashboard"), {"organization": globex.pk})

    assert {row.theme.name: row.count for row in response.context["overview"].rows} == {"SSO login loop": 3}
    assert f"organization={globex.pk}" in response.context["overview"].rows[0].link
    totals = response.context["overview"].totals
    assert totals.unthemed == client_for(product_manager).get(totals.unthemed_link).context["page"].paginator.count


def test_a_filtered_dashboard_keeps_its_filters_in_links(client_for, product_manager, world) -> None:
    response = client_for(product_manager).get(reverse("dashboard"), {"period": "7", "channel": "email"})

    assert "period=7&channel=email" in response.context["carried"]
    assert "channel=email" in response.context["overview"].top[0].link


def test_spikes_in_the_period_are_marked(client_for, product_manager, world) -> None:
    SpikeAlert.objects.create(theme=world.export, period="day", start_date=timezone.localdate() - timedelta(days=3),
                              observed=9, expected=1.5, p_value=0.0001)

    response = client_for(product_manager).get(reverse("dashboard"))

    assert [alert.theme for alert in response.context["overview"].spikes] == [world.export]
    assert b"about 2 expected" in response.content


def test_an_empty_store_says_to_import_tickets(client_for, admin_user, product_manager) -> None:
    admin_page = client_for(admin_user).get(reverse("dashboard"))
    pm_page = client_for(product_manager).get(reverse("dashboard"))

    assert b"No tickets yet" in admin_page.content
    assert reverse("import_upload").encode() in admin_page.content
    assert b"Ask an admin" in pm_page.content


def test_tickets_without_themes_point_to_the_suggested_themes(client_for, support_lead, source) -> None:
    World(source)  # themes exist...
    Theme.objects.update(status=ThemeStatus.SUGGESTED)  # ...but none is accepted yet
    ingest_records(source=source, records=[ticket_record_from_dict({"external_id": "1", "body": "hi",
                                                                    "created_at": "2026-01-01"})])

    response = client_for(support_lead).get(reverse("dashboard"))

    assert b"No themes yet" in response.content
    assert reverse("suggested_themes").encode() in response.content


def test_a_period_without_tickets_says_so(client_for, product_manager, world) -> None:
    response = client_for(product_manager).get(reverse("dashboard"), {"channel": "phone"})

    assert b"No tickets in this period for these filters" in response.content


def test_the_dashboard_csv_exports_every_theme_safely(client_for, product_manager, world) -> None:
    world.export.name = "=HYPERLINK(evil)"
    world.export.save()

    response = client_for(product_manager).get(reverse("dashboard"), {"format": "csv", "table": "themes"})

    assert response["Content-Type"].startswith("text/csv")
    rows = rows_of(response)
    assert rows[0] == ["theme_id", "theme", "area", "tickets", "previous_period", "change", "change_percent",
                       "customers"]
    assert rows[1][1:5] == ["'=HYPERLINK(evil)", "", "24", "2"]
    assert [row[1] for row in rows[2:]] == ["Card declined abroad", "SSO login loop"]


def test_the_rising_csv_lists_the_rising_themes(client_for, product_manager, world) -> None:
    response = client_for(product_manager).get(reverse("dashboard"), {"format": "csv", "table": "rising"})

    assert [row[1] for row in rows_of(response)[1:]] == ["CSV export cut off"]


def test_the_dashboard_needs_a_bounded_number_of_queries(
    client_for, product_manager, world, django_assert_max_num_queries
) -> None:
    client = client_for(product_manager)
    with django_assert_max_num_queries(22):
        client.get(reverse("dashboard"))
    world.tickets(Theme.objects.create(name="More", status=ThemeStatus.ACTIVE), [1, 2])
    for i in range(15):
        world.tickets(Theme.objects.create(name=f"Extra {i}", status=ThemeStatus.ACTIVE), [1])
    with django_assert_max_num_queries(22):
        client.get(reverse("dashboard"))


# --- theme list -----------------------------------------------------------------------------------------


def test_the_theme_list_groups_active_themes_by_area(client_for, viewer, world) -> None:
    Theme.objects.create(name="Maybe later", status=ThemeStatus.SUGGESTED)

    response = client_for(viewer).get(reverse("theme_list"))

    names = [(row.theme.parent.name if row.theme.parent else "", row.theme.name) for row in response.context["page"]]
    # Areas come first by name, themes outside an area last; areas with sub-themes are not rows.
    assert names == [("Payments", "Card declined abroad"), ("", "CSV export cut off"), ("", "Old invoice layout"),
                     ("", "SSO login loop")]
    assert b"Payments" in response.content


def test_the_theme_list_searches_and_sorts(client_for, viewer, world) -> None:
    client = client_for(viewer)

    searched = client.get(reverse("theme_list"), {"q": "login"})
    by_volume = client.get(reverse("theme_list"), {"sort": "-volume"})
    by_area_name = client.get(reverse("theme_list"), {"q": "payments"})

    assert [row.theme.name for row in searched.context["page"]] == ["SSO login loop"]
    assert [row.count for row in by_volume.context["page"]] == [24, 4, 3, 0]
    assert [row.theme.name for row in by_area_name.context["page"]] == ["Card declined abroad"]


def test_the_theme_list_paginates_with_its_filters(client_for, viewer, world, django_assert_max_num_queries) -> None:
    Theme.objects.bulk_create(Theme(name=f"Theme {i:03}", status=ThemeStatus.ACTIVE) for i in range(60))
    client = client_for(viewer)

    with django_assert_max_num_queries(18):  # constant: customers, ARR and backlog are one query each for all rows
        first = client.get(reverse("theme_list"), {"sort": "name", "period": "7"})
    second = client.get(reverse("theme_list"), {"sort": "name", "period": "7", "page": 2})

    assert len(first.context["page"].object_list) == 50
    assert len(second.context["page"].object_list) == 14
    assert "sort=name" in first.context["query"] and "period=7" in first.context["query"]


def test_the_theme_list_exports_csv(client_for, viewer, world) -> None:
    response = client_for(viewer).get(reverse("theme_list"), {"format": "csv", "sort": "-volume"})

    rows = rows_of(response)
    assert [row[1] for row in rows[1:]] == ["CSV export cut off", "Card declined abroad", "SSO login loop",
                                            "Old invoice layout"]


def test_the_theme_list_shows_customers_arr_trend_and_the_linked_backlog_item(client_for, product_manager,
                                                                                world) -> None:
    from roadmap.models import BacklogItem, ThemeLink

    item = BacklogItem.objects.create(title="Fix the SSO redirect", status="planned")
    ThemeLink.objects.create(theme=world.sso, item=item)
    client = client_for(product_manager)

    response = client.get(reverse("theme_list"), {"sort": "-arr"})

    rows = response.context["page"].object_list
    assert [row.theme.name for row in rows[:2]] == ["SSO login loop", "CSV export cut off"]  # Globex's $90k first
    sso = rows[0]
    assert (sso.count, sso.customers, sso.arr) == (3, 3, 90000)  # one organization counted once
    assert rows[1].arr == 12000
    page = response.content.decode()
    assert "Fix the SSO redirect" in page and "$90,000" in page
    assert 'aria-sort="descending">ARR affected ↓' in page
    by_customers = client.get(reverse("theme_list"), {"sort": "-customers"}).context["page"].object_list
    assert by_customers[0].theme.name == "CSV export cut off"
    csv_rows = rows_of(client.get(reverse("theme_list"), {"format": "csv", "sort": "-arr"}))
    assert csv_rows[0][-2:] == ["customers", "arr_affected"] and csv_rows[1][-2:] == ["3", "90000.00"]


@pytest.mark.parametrize("persona", ["admin_user", "support_lead", "product_manager", "viewer"])
def test_curators_rename_a_theme_in_place_and_it_is_audited(request, client_for, world, persona) -> None:
    from insights.models import ThemeChange

    client = client_for(request.getfixturevalue(persona))
    url = reverse("theme_name", args=[world.sso.pk])
    listed = client.get(reverse("theme_list")).content.decode()
    curator = persona in {"admin_user", "support_lead"}

    assert (f'hx-get="{url}?mode=edit"' in listed) == curator
    form = client.get(url, {"mode": "edit"}, HTTP_HX_REQUEST="true")
    renamed = client.post(url, {"name": "Okta sign-in loops back to the login page"}, HTTP_HX_REQUEST="true")

    assert (form.status_code, renamed.status_code) == ((200, 200) if curator else (403, 403))
    world.sso.refresh_from_db()
    if curator:
        assert 'name="name"' in form.content.decode()
        assert "renamed from “SSO login loop”" in renamed.content.decode()
        assert world.sso.name == "Okta sign-in loops back to the login page"
        change = ThemeChange.objects.get(action="rename", theme=world.sso)
        assert change.before == {"name": "SSO login loop"}
        assert client.post(url, {"name": ""}, HTTP_HX_REQUEST="true").content.decode().count('role="alert"') == 1
    else:
        assert world.sso.name == "SSO login loop"


def test_a_plain_rename_post_goes_back_to_the_list_and_never_off_site(client_for, support_lead, world) -> None:
    url = reverse("theme_name", args=[world.sso.pk])

    response = client_for(support_lead).post(url, {"name": "SSO loop", "next": "https://evil.example/"})

    assert response.status_code == 302 and response["Location"] == reverse("theme_list")


def test_the_theme_list_without_themes_says_what_to_do(client_for, viewer, source) -> None:
    response = client_for(viewer).get(reverse("theme_list"))

    assert b"No tickets yet" in response.content


# --- one theme ------------------------------------------------------------------------------------------


def test_the_theme_page_shows_reach_and_health_against_all_tickets(client_for, product_manager, world) -> None:
    Ticket.objects.filter(subject__startswith="SSO").update(reopen_count=1, csat=2)
    Ticket.objects.exclude(subject__startswith="SSO").update(csat=4)
    sso = Ticket.objects.filter(subject__startswith="SSO")
    for ticket in sso:
        ticket.solved_at = ticket.created_at + timedelta(hours=10)
        ticket.save(update_fields=["solved_at"])

    response = client_for(product_manager).get(reverse("theme_detail", args=[world.sso.pk]))

    profile = response.context["profile"]
    assert (profile.tickets, profile.previous, profile.customers, profile.organizations) == (3, 1, 3, 1)
    assert profile.arr == 90000
    assert profile.health.median_resolution_hours == pytest.approx(10)
    assert (profile.health.reopen_share, profile.health.csat) == (1.0, 2.0)
    assert profile.overall.reopen_share == pytest.approx(3 / 33)
    assert profile.overall.csat == pytest.approx((3 * 2 + 30 * 4) / 33)


def test_the_theme_page_breaks_down_by_channel_plan_and_organization(client_for, product_manager, world) -> None:
    response = client_for(product_manager).get(reverse("theme_detail", args=[world.sso.pk]))

    breakdowns = response.context["breakdowns"]
    assert [(row.label, row.count) for row in breakdowns["channels"]] == [("Chat", 3)]
    assert [(row.label, row.count) for row in breakdowns["plans"]] == [("Enterprise", 3)]
    assert [(row.label, row.count, row.arr) for row in breakdowns["organizations"]] == [("Globex", 3, 90000)]
    listed = client_for(product_manager).get(breakdowns["organizations"][0].link)
    assert listed.context["page"].paginator.count == 3


def test_the_theme_page_highlights_the_matching_sentence(client_for, product_manager, world) -> None:
    response = client_for(product_manager).get(reverse("theme_detail", args=[world.cards.pk]))

    assert len(response.context["examples"]) == 4
    assert b"<mark>Something <strong>about</strong> Card declined abroad.</mark>" in response.content


def test_the_highlight_escapes_the_ticket_text(client_for, product_manager, world) -> None:
    TicketTheme.objects.filter(theme=world.cards).update(
        explanation={"sentence": "<script>alert(1)</script>", "terms": [["script", 1.0]]})
    Ticket.objects.filter(subject__startswith="Card").update(subject="<b>bold</b>")

    response = client_for(product_manager).get(reverse("theme_detail", args=[world.cards.pk]))

    assert b"<script>alert(1)" not in response.content


def test_the_theme_page_lists_sub_themes_backlog_items_and_open_escalations(
    client_for, product_manager, support_lead, world
) -> None:
    item = BacklogItem.objects.create(title="Support 3-D Secure 2", status="planned")
    ThemeLink.objects.create(theme=world.area, item=item, linked_by=product_manager)
    Escalation.objects.create(theme=world.area, note="Big customers cannot pay", raised_by=support_lead)
    Escalation.objects.create(theme=world.area, note="Fixed last year", status=EscalationStatus.RESOLVED)

    response = client_for(product_manager).get(reverse("theme_detail", args=[world.area.pk]))

    assert [(row.theme.name, row.count) for row in response.context["children"]] == [("Card declined abroad", 4)]
    assert b"Support 3-D Secure 2" in response.content
    assert b"Big customers cannot pay" in response.content
    assert b"Fixed last year" not in response.content
    assert b'class="actions"' in response.content


def test_the_theme_page_exports_each_table(client_for, product_manager, world) -> None:
    client = client_for(product_manager)
    url = reverse("theme_detail", args=[world.sso.pk])

    assert rows_of(client.get(url, {"format": "csv", "table": "channels"}))[1] == ["Chat", "3", "1.0"]
    assert rows_of(client.get(url, {"format": "csv", "table": "plans"}))[1] == ["Enterprise", "3", "1.0"]
    assert rows_of(client.get(url, {"format": "csv", "table": "organizations"}))[1][:4] == [
        "Globex", "enterprise", "90000.00", "3"]
    area = client.get(reverse("theme_detail", args=[world.area.pk]), {"format": "csv", "table": "subthemes"})
    assert rows_of(area)[1][1] == "Card declined abroad"
    assert client.get(url, {"format": "csv", "table": "nope"}).status_code == 404


def test_the_theme_page_needs_a_bounded_number_of_queries(
    client_for, product_manager, world, django_assert_max_num_queries
) -> None:
    client = client_for(product_manager)
    with django_assert_max_num_queries(30):
        client.get(reverse("theme_detail", args=[world.export.pk]))


# --- compare --------------------------------------------------------------------------------------------


def test_compare_sorts_themes_into_grew_shrank_appeared_and_went_quiet(client_for, viewer, world) -> None:
    world.tickets(Theme.objects.create(name="Brand new", status=ThemeStatus.ACTIVE), [2])
    world.tickets(world.cards, [35])  # cards: 5 before, 4 after

    response = client_for(viewer).get(reverse("compare"))

    comparison = response.context["comparison"]
    assert [(r.theme.name, r.previous, r.count) for r in comparison.grew] == [
        ("CSV export cut off", 2, 24), ("SSO login loop", 1, 3)]
    assert [(r.theme.name, r.delta) for r in comparison.shrank] == [("Card declined abroad", -1)]
    assert [r.theme.name for r in comparison.appeared] == ["Brand new"]
    assert [r.theme.name for r in comparison.disappeared] == ["Old invoice layout"]


def test_compare_takes_any_two_periods(client_for, viewer, world) -> None:
    today = timezone.localdate()
    query = {"a_start": (today - timedelta(days=50)).isoformat(), "a_end": (today - timedelta(days=40)).isoformat(),
             "b_start": (today - timedelta(days=38)).isoformat(), "b_end": (today - timedelta(days=30)).isoformat()}

    comparison = client_for(viewer).get(reverse("compare"), query).context["comparison"]

    assert [(r.theme.name, r.count) for r in comparison.appeared] == [("Card declined abroad", 4),
                                                                         ("Old invoice layout", 3)]
    assert [(r.theme.name, r.previous) for r in comparison.disappeared] == [("CSV export cut off", 2),
                                                                            ("SSO login loop", 1)]


def test_compare_needs_a_bounded_number_of_queries(client_for, viewer, world, django_assert_max_num_queries) -> None:
    client = client_for(viewer)
    for i in range(10):
        world.tickets(Theme.objects.create(name=f"Extra {i}", status=ThemeStatus.ACTIVE), [1, 40])

    with django_assert_max_num_queries(16):
        client.get(reverse("compare"))


def test_compare_exports_csv(client_for, viewer, world) -> None:
    rows = rows_of(client_for(viewer).get(reverse("compare"), {"format": "csv"}))

    assert rows[0] == ["change", "theme_id", "theme", "area", "before", "after", "delta"]
    assert [(row[0], row[2], row[6]) for row in rows[1:]] == [
        ("grew", "CSV export cut off", "22"), ("grew", "SSO login loop", "2"),
        ("disappeared", "Old invoice layout", "-3")]
