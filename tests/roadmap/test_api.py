"""The roadmap API over HTTP: items, links, demand, escalation links, and who may call what."""

from __future__ import annotations

import pytest
from django.urls import reverse

from roadmap.models import BacklogItem, ThemeLink
from roadmap.services import backlog_item_create

pytestmark = pytest.mark.django_db

PERSONAS = ["admin_user", "support_lead", "product_manager", "viewer", "outsider"]
READERS = {"admin_user", "support_lead", "product_manager", "viewer"}
PLANNERS = {"admin_user", "product_manager"}
ESCALATORS = {"admin_user", "support_lead", "product_manager"}
JSON = "application/json"


@pytest.fixture
def item(world, product_manager) -> BacklogItem:
    return backlog_item_create(user=product_manager, title="Stream CSV exports", status="planned",
                               themes=[world.csv])


@pytest.mark.parametrize("persona", PERSONAS)
def test_everyone_with_a_role_reads_items_and_demand(request, client_for, item, persona) -> None:
    client = client_for(request.getfixturevalue(persona))

    listed = client.get(reverse("api-backlog-item-list"))
    one = client.get(reverse("api-backlog-item-detail", args=[item.pk]))
    demand = client.get(reverse("api-backlog-item-demand", args=[item.pk]))

    assert {listed.status_code, one.status_code, demand.status_code} == {200 if persona in READERS else 403}


def test_anonymous_callers_get_401(client_for, item) -> None:
    assert client_for(None).get(reverse("api-backlog-item-list")).status_code == 401


def test_the_list_carries_demand_ranked_by_customers(client_for, viewer, world, product_manager, item) -> None:
    backlog_item_create(user=product_manager, title="Login", themes=[world.login])

    body = client_for(viewer).get(reverse("api-backlog-item-list"), {"days": 30}).json()

    assert [row["title"] for row in body] == ["Stream CSV exports", "Login"]
    assert body[0]["demand"] == {"tickets": 5, "customers": 3, "organizations": 2, "arr": "60000.00",
                                 "previous_tickets": 1, "previous_customers": 1, "customers_change": 2.0,
                                 "escalations": 0}
    assert body[0]["themes"] == [world.csv.pk]


def test_the_list_refuses_a_bad_period_or_status(client_for, viewer, item) -> None:
    client = client_for(viewer)

    assert client.get(reverse("api-backlog-item-list"), {"start": "2026-01-01"}).status_code == 400
    assert client.get(reverse("api-backlog-item-list"), {"days": "0"}).status_code == 400
    assert client.get(reverse("api-backlog-item-list"), {"status": "done"}).status_code == 400


def test_demand_of_one_item_lists_themes_and_quotes(client_for, viewer, world, product_manager) -> None:
    area = backlog_item_create(user=product_manager, title="Exports", themes=[world.exports])

    body = client_for(viewer).get(reverse("api-backlog-item-demand", args=[area.pk])).json()

    assert body["demand"]["customers"] == 3
    assert body["themes"] == [{"theme": world.exports.pk, "name": "Exports", "sub_themes": 2, "tickets": 5,
                               "customers": 3}]
    assert len(body["quotes"]) == 3


@pytest.mark.parametrize("persona", PERSONAS)
def test_only_planners_create_and_edit_items(request, client_for, world, product_manager, persona) -> None:
    client = client_for(request.getfixturevalue(persona))

    created = client.post(reverse("api-backlog-item-list"), {
        "title": "Bulk edit", "kind": "feature", "themes": [world.csv.pk], "owner": "pat.pm@example.com",
        "target_date": "2026-12-31"}, content_type=JSON)

    if persona in PLANNERS:
        assert created.status_code == 201
        assert (created.json()["owner"], created.json()["themes"], created.json()["status"]) == (
            "pat.pm@example.com", [world.csv.pk], "idea")
        edited = client.patch(reverse("api-backlog-item-detail", args=[created.json()["id"]]),
                              {"status": "shipped"}, content_type=JSON)
        assert edited.status_code == 200 and edited.json()["shipped_at"]
    else:
        assert created.status_code == 403
        assert not BacklogItem.objects.filter(title="Bulk edit").exists()


def test_creating_with_an_unknown_theme_or_owner_is_refused(client_for, product_manager, world) -> None:
    client = client_for(product_manager)

    theme = client.post(reverse("api-backlog-item-list"), {"title": "X", "themes": [999]}, content_type=JSON)
    owner = client.post(reverse("api-backlog-item-list"), {"title": "X", "owner": "nobody@example.com"},
                        content_type=JSON)

    assert theme.status_code == owner.status_code == 400
    assert not BacklogItem.objects.exists()


def test_an_update_that_changes_nothing_is_a_400(client_for, product_manager, item) -> None:
    response = client_for(product_manager).patch(reverse("api-backlog-item-detail", args=[item.pk]),
                                                 {"title": item.title}, content_type=JSON)

    assert response.status_code == 400 and "Nothing to change" in response.json()["detail"]


@pytest.mark.parametrize("persona", PERSONAS)
def test_only_planners_link_and_unlink_themes(request, client_for, item, world, persona) -> None:
    client = client_for(request.getfixturevalue(persona))

    linked = client.post(reverse("api-theme-link-create", args=[item.pk]), {"theme": world.login.pk, "note": "Why"},
                         content_type=JSON)
    unlinked = client.delete(reverse("api-theme-link-delete", args=[item.pk, world.csv.pk]))

    if persona in PLANNERS:
        assert (linked.status_code, unlinked.status_code) == (201, 204)
        assert list(ThemeLink.objects.values_list("theme__name", flat=True)) == ["Login loops"]
    else:
        assert linked.status_code == unlinked.status_code == 403
        assert list(ThemeLink.objects.values_list("theme__name", flat=True)) == ["CSV limit"]


def test_linking_twice_is_a_400_and_unlinking_what_is_not_linked_a_404(client_for, product_manager, item,
                                                                         world) -> None:
    client = client_for(product_manager)

    again = client.post(reverse("api-theme-link-create", args=[item.pk]), {"theme": world.csv.pk}, content_type=JSON)
    missing = client.delete(reverse("api-theme-link-delete", args=[item.pk, world.login.pk]))

    assert (again.status_code, missing.status_code) == (400, 404)


@pytest.mark.parametrize("persona", PERSONAS)
def test_support_leads_link_escalations_to_items(request, client_for, escalation, item, persona) -> None:
    response = client_for(request.getfixturevalue(persona)).put(
        reverse("api-escalation-link", args=[escalation.pk]), {"item": item.pk, "note": "Same problem"},
        content_type=JSON)

    escalation.refresh_from_db()
    if persona in ESCALATORS:
        assert response.status_code == 200
        assert (response.json()["backlog_item"], response.json()["status"]) == (item.pk, "acknowledged")
    else:
        assert response.status_code == 403 and escalation.backlog_item is None


def test_the_schema_documents_the_roadmap_endpoints(client_for, viewer) -> None:
    schema = client_for(viewer).get("/api/schema/").content.decode()

    for operation in ["backlog_items_list", "backlog_items_create", "backlog_items_update", "backlog_items_demand",
                      "backlog_items_links_create", "backlog_items_links_delete", "escalations_link"]:
        assert f"operationId: {operation}" in schema
