"""The roadmap pages over HTTP: who may see and do what, what they show, and their query counts."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from roadmap.models import BacklogItem, ThemeLink
from roadmap.services import backlog_item_create, theme_link_create

pytestmark = pytest.mark.django_db

PERSONAS = ["admin_user", "support_lead", "product_manager", "viewer", "outsider"]
READERS = {"admin_user", "support_lead", "product_manager", "viewer"}
PLANNERS = {"admin_user", "product_manager"}


@pytest.fixture
def item(world, product_manager) -> BacklogItem:
    return backlog_item_create(user=product_manager, title="Stream CSV exports", status="planned",
                               themes=[world.csv])


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("name", ["roadmap_board", "roadmap_unaddressed", "backlog_item_detail"])
def test_the_pages_open_for_readers_only(request, client_for, item, persona, name) -> None:
    url = reverse(name, args=[item.pk]) if name == "backlog_item_detail" else reverse(name)

    response = client_for(request.getfixturevalue(persona)).get(url)

    assert response.status_code == (200 if persona in READERS else 403)


@pytest.mark.parametrize("name", ["roadmap_board", "roadmap_unaddressed", "backlog_item_detail"])
def test_anonymous_visitors_are_sent_to_sign_in(client_for, item, name) -> None:
    url = reverse(name, args=[item.pk]) if name == "backlog_item_detail" else reverse(name)

    response = client_for(None).get(url)

    assert response.status_code == 302 and response["Location"].startswith("/login/?next=")


@pytest.mark.parametrize("persona", PERSONAS)
def test_only_planners_create_items(request, client_for, world, persona) -> None:
    response = client_for(request.getfixturevalue(persona)).post(
        reverse("backlog_item_create"), {"title": "Bulk edit", "kind": "feature", "status": "idea"})

    assert response.status_code == (302 if persona in PLANNERS else 403)
    assert BacklogItem.objects.filter(title="Bulk edit").exists() == (persona in PLANNERS)


@pytest.mark.parametrize("persona", PERSONAS)
def test_only_planners_change_status_link_and_unlink(request, client_for, item, world, persona) -> None:
    client = client_for(request.getfixturevalue(persona))
    allowed = persona in PLANNERS

    status = client.post(reverse("backlog_item_status", args=[item.pk]), {"status": "in_progress"})
    linked = client.post(reverse("theme_link_create"), {"item": item.pk, "theme": world.login.pk})
    link = ThemeLink.objects.get(item=item, theme=world.csv)
    unlinked = client.post(reverse("theme_link_delete", args=[link.pk]))

    assert {status.status_code, linked.status_code, unlinked.status_code} == {302 if allowed else 403}
    item.refresh_from_db()
    assert item.status == ("in_progress" if allowed else "planned")
    assert sorted(item.theme_links.values_list("theme__name", flat=True)) == (
        ["Login loops"] if allowed else ["CSV limit"])


def test_the_board_shows_items_by_status_with_their_demand(client_for, viewer, item) -> None:
    response = client_for(viewer).get(reverse("roadmap_board"))

    body = response.content.decode()
    assert "Stream CSV exports" in body
    assert "$60,000" in body  # ARR of Acme and Beta
    assert body.index("In progress") < body.index("Planned") < body.index("Idea") < body.index("Shipped")
    assert "New backlog item" not in body  # viewers read only


def test_the_board_is_sortable_by_each_measure(client_for, product_manager, item) -> None:
    for sort in ["customers", "tickets", "organizations", "arr", "trend", "escalations", "title", "nonsense"]:
        response = client_for(product_manager).get(reverse("roadmap_board"), {"sort": sort, "period": "90"})
        assert response.status_code == 200


def test_the_board_reads_in_a_fixed_number_of_queries(client_for, product_manager, world,
                                                     django_assert_max_num_queries) -> None:
    for i in range(15):
        backlog_item_create(user=product_manager, title=f"Item {i}", status=["idea", "planned", "shipped"][i % 3],
                            themes=[world.csv, world.login][: 1 + i % 2])
    client = client_for(product_manager)

    with django_assert_max_num_queries(17):
        response = client.get(reverse("roadmap_board"))

    assert response.content.decode().count('class="board-item"') == 15


def test_the_board_keeps_its_table_until_something_on_it_changes(client_for, product_manager, world, item,
                                                                  django_assert_max_num_queries) -> None:
    client = client_for(product_manager)
    assert "Stream CSV exports" in client.get(reverse("roadmap_board")).content.decode()
    with django_assert_max_num_queries(12):  # kept: no items, links or demand read again
        client.get(reverse("roadmap_board"))

    backlog_item_create(user=product_manager, title="Faster SSO", status="idea", themes=[world.login])
    assert "Faster SSO" in client.get(reverse("roadmap_board")).content.decode()

    item.title = "Stream every CSV export"
    item.save()
    assert "Stream every CSV export" in client.get(reverse("roadmap_board")).content.decode()

    theme_link_create(item=item, theme=world.login, user=product_manager)
    body = client.get(reverse("roadmap_board")).content.decode()
    row = body[body.index("Stream every CSV export"):]
    assert world.login.name in row[: row.index("</tr>")]


def test_an_empty_board_says_what_to_do(client_for, product_manager) -> None:
    body = client_for(product_manager).get(reverse("roadmap_board")).content.decode()

    assert "The backlog is empty" in body and "unaddressed demand" in body


def test_the_item_page_shows_demand_themes_quotes_and_customers(client_for, viewer, item) -> None:
    body = client_for(viewer).get(reverse("backlog_item_detail", args=[item.pk])).content.decode()

    assert "CSV limit" in body
    assert "Our export is cut off." in body
    assert "mia@acme.test" in body and "zoe@acme.test" in body
    assert "Unlink" not in body and "Update" not in body


def test_customers_and_tickets_export_as_csv(client_for, viewer, item) -> None:
    client = client_for(viewer)
    url = reverse("backlog_item_detail", args=[item.pk])

    customers = list(csv.DictReader(io.StringIO(client.get(url, {"export": "customers"}).content.decode("utf-8-sig"))))
    tickets = list(csv.DictReader(io.StringIO(client.get(url, {"export": "tickets"}).content.decode("utf-8-sig"))))

    assert [(c["email"], c["tickets"], c["arr"]) for c in customers] == [
        ("mia@acme.test", "3", "50000.0"), ("bob@beta.test", "1", "10000.0"), ("zoe@acme.test", "1", "50000.0")]
    assert sorted(t["ticket_id"] for t in tickets) == ["B1", "M0", "M1", "M2", "Z1"]


def test_a_shipped_item_shows_its_ship_impact_and_close_the_loop_exports(client_for, product_manager, item) -> None:
    client = client_for(product_manager)
    shipped_on = (timezone.localdate() - timedelta(days=3)).isoformat()

    client.post(reverse("backlog_item_status", args=[item.pk]), {"status": "shipped", "shipped_on": shipped_on})
    body = client.get(reverse("backlog_item_detail", args=[item.pk])).content.decode()

    item.refresh_from_db()
    assert item.shipped_at.date().isoformat() == shipped_on
    assert "Ship impact" in body and "Too early to tell" in body
    assert "Close the loop" in body and "export=customers" in body


def test_editing_an_item_saves_it(client_for, product_manager, item) -> None:
    response = client_for(product_manager).post(reverse("backlog_item_update", args=[item.pk]), {
        "title": "Stream large CSV exports", "kind": "bug", "external_key": "ENG-7",
        "external_url": "https://tracker.example.test/ENG-7", "target_date": "2026-12-01"})

    assert response.status_code == 302
    item.refresh_from_db()
    assert (item.title, item.kind, item.external_key, str(item.target_date)) == (
        "Stream large CSV exports", "bug", "ENG-7", "2026-12-01")


def test_an_unknown_item_is_404(client_for, viewer) -> None:
    assert client_for(viewer).get(reverse("backlog_item_detail", args=[999])).status_code == 404


def test_unaddressed_demand_creates_an_item_from_a_theme_in_one_click(client_for, product_manager, world) -> None:
    client = client_for(product_manager)
    page = client.get(reverse("roadmap_unaddressed")).content.decode()
    assert "Login loops" in page and "Create item" in page

    response = client.post(reverse("backlog_item_create"), {
        "title": "Login loops", "kind": "feature", "status": "idea", "theme": world.login.pk, "note": "From demand"})

    created = BacklogItem.objects.get(title="Login loops")
    assert response["Location"] == reverse("backlog_item_detail", args=[created.pk])
    assert list(created.theme_links.values_list("theme__name", "note")) == [("Login loops", "From demand")]
    theme_link = reverse("theme_detail", args=[world.login.pk])
    assert theme_link in page
    assert theme_link not in client.get(reverse("roadmap_unaddressed")).content.decode()


def test_unaddressed_demand_links_a_theme_to_an_existing_item(client_for, product_manager, world, item) -> None:
    next_url = reverse("roadmap_unaddressed") + "?period=90"

    response = client_for(product_manager).post(reverse("theme_link_create"), {
        "item": item.pk, "theme": world.login.pk, "next": next_url})

    assert response["Location"] == next_url
    assert item.theme_links.filter(theme=world.login).exists()


def test_a_foreign_next_address_is_ignored(client_for, product_manager, world, item) -> None:
    response = client_for(product_manager).post(reverse("theme_link_create"), {
        "item": item.pk, "theme": world.login.pk, "next": "https://evil.example/"})

    assert response["Location"] == reverse("backlog_item_detail", args=[item.pk])


def test_unaddressed_demand_reads_in_a_fixed_number_of_queries(client_for, product_manager, world,
                                                              django_assert_max_num_queries) -> None:
    theme_link_create(item=backlog_item_create(user=product_manager, title="Done", status="shipped"),
                      theme=world.login, user=product_manager)
    client = client_for(product_manager)

    with django_assert_max_num_queries(14):
        response = client.get(reverse("roadmap_unaddressed"))

    assert response.status_code == 200


def test_the_nav_shows_roadmap_to_readers(client_for, viewer, outsider) -> None:
    assert 'href="/roadmap/"' in client_for(viewer).get(reverse("roadmap_board")).content.decode()
    assert 'href="/roadmap/"' not in client_for(outsider).get("/account/password/").content.decode()


def _theme_backlog(rf, user, theme) -> str:
    from django.template import Context, Template

    request = rf.get(f"/themes/{theme.pk}/")
    request.user = user
    return Template("{% load roadmap %}{% theme_backlog theme %}").render(Context({"request": request,
                                                                                   "theme": theme}))


def test_the_theme_backlog_section_lists_items_and_offers_linking_to_planners(rf, product_manager, viewer, world,
                                                                             item) -> None:
    other = backlog_item_create(user=product_manager, title="Exports overhaul", status="idea")

    for_planner = _theme_backlog(rf, product_manager, world.csv)
    for_viewer = _theme_backlog(rf, viewer, world.csv)
    unlinked = _theme_backlog(rf, viewer, world.login)

    assert reverse("backlog_item_detail", args=[item.pk]) in for_planner and "Stream CSV exports" in for_viewer
    assert f'<option value="{other.pk}">' in for_planner  # link to another open item…
    assert f'<option value="{item.pk}">' not in for_planner  # …not to the one already linked
    assert "Create item" in for_planner
    assert "Create item" not in for_viewer and "Link to an item" not in for_viewer
    assert "Linked to no backlog item" in unlinked


def test_htmx_swaps_an_unaddressed_row_for_its_outcome(client_for, product_manager, world, item) -> None:
    client = client_for(product_manager)

    created = client.post(reverse("backlog_item_create"), {
        "title": "Login loops", "kind": "feature", "status": "idea", "theme": world.login.pk}, HTTP_HX_REQUEST="true")
    linked = client.post(reverse("theme_link_create"), {"item": item.pk, "theme": world.pdf.pk},
                         HTTP_HX_REQUEST="true")

    new = BacklogItem.objects.get(title="Login loops")
    assert created.status_code == linked.status_code == 200
    assert "Created" in created.content.decode()
    assert reverse("backlog_item_detail", args=[new.pk]) in created.content.decode()
    assert "Linked" in linked.content.decode() and "Stream CSV exports" in linked.content.decode()


def test_a_failed_htmx_action_reloads_the_page_to_show_why(client_for, product_manager, world, item) -> None:
    response = client_for(product_manager).post(reverse("theme_link_create"), {"item": item.pk,
                                                                               "theme": world.csv.pk},
                                                HTTP_HX_REQUEST="true")

    assert (response.status_code, response["HX-Refresh"]) == (204, "true")
