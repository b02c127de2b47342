"""Closing the loop: a shipped item's affected tickets tagged in their help desk (a local fake Zendesk)."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from insights.models import Theme, ThemeStatus
from roadmap.models import BacklogItem
from roadmap.selectors import shipped_item_tag_targets
from roadmap.services import BacklogError, backlog_item_create, shipped_item_tag_back
from tests.connectors.fake_zendesk import EMAIL, TOKEN, UPDATE_MANY_PATH, FakeZendesk
from tests.connectors.server import FakeService, Reply, Request, serving
from tests.roadmap.conftest import make_ticket
from tickets.connectors import freshdesk, zendesk
from tickets.crypto import secrets_encrypt
from tickets.models import Source, SourceKind

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake() -> Iterator[FakeZendesk]:
    service = FakeZendesk()
    with serving(service):
        yield service


@pytest.fixture
def zendesk_source(fake: FakeZendesk) -> Source:
    return Source.objects.create(
        name="Zendesk EU", kind=SourceKind.ZENDESK,
        settings={"subdomain": "acme", "email": EMAIL, "base_url": fake.base_url},
        credentials_encrypted=secrets_encrypt({"api_token": TOKEN}),
    )


@pytest.fixture
def shipped(source: Source, zendesk_source: Source, fake: FakeZendesk, product_manager: Any) -> BacklogItem:
    """Shipped yesterday; its theme has Zendesk tickets 11 and 12 and one uploaded ticket in the 90 days before,
    plus a Zendesk ticket from long before (not affected) and one in another theme."""
    theme = Theme.objects.create(name="CSV export limit", status=ThemeStatus.ACTIVE)
    other = Theme.objects.create(name="Login loops", status=ThemeStatus.ACTIVE)
    for ticket_id in (11, 12, 13, 14):
        fake.add_ticket(ticket_id, f"Ticket {ticket_id}", 101, [(101, "It does not work.", True)], tags=["vip"])
    make_ticket(zendesk_source, "11", email="mia@acme.test", days_ago=5, themes=(theme,))
    make_ticket(zendesk_source, "12", email="bob@beta.test", days_ago=20, themes=(theme,))
    make_ticket(zendesk_source, "13", email="zoe@acme.test", days_ago=200, themes=(theme,))
    make_ticket(zendesk_source, "14", email="ann@acme.test", days_ago=5, themes=(other,))
    make_ticket(source, "U-1", email="carl@gamma.test", days_ago=5, themes=(theme,))
    return backlog_item_create(user=product_manager, title="Stream CSV exports", status="shipped",
                               shipped_at=timezone.now() - timedelta(days=1), themes=[theme])


def test_it_tags_the_affected_zendesk_tickets_and_reports_the_upload_source(
    shipped: BacklogItem, fake: FakeZendesk, product_manager: Any
) -> None:
    outcome = shipped_item_tag_back(item=shipped, tag="threadline-shipped-7", user=product_manager)

    assert outcome == {"Zendesk EU": 2, "helpdesk": "CSV / JSONL upload sources cannot be tagged from Threadline"}
    assert fake.tag_updates == [([11, 12], ["threadline-shipped-7"])]
    assert fake.tickets[11]["tags"] == ["vip", "threadline-shipped-7"]
    assert fake.tickets[13]["tags"] == ["vip"] and fake.tickets[14]["tags"] == ["vip"]
    change = shipped.changes.get(action="tagged")
    assert change.after == "2 tickets in Zendesk EU with threadline-shipped-7" and change.user == product_manager


def test_tagging_twice_leaves_one_tag(shipped: BacklogItem, fake: FakeZendesk, product_manager: Any) -> None:
    shipped_item_tag_back(item=shipped, tag="Fixed-CSV", user=product_manager)
    shipped_item_tag_back(item=shipped, tag="fixed-csv", user=product_manager)

    assert fake.tickets[12]["tags"] == ["vip", "fixed-csv"]
    assert shipped.changes.filter(action="tagged").count() == 2


def test_it_sends_at_most_100_ids_per_bulk_update(fake: FakeZendesk, zendesk_source: Source) -> None:
    ids = [str(n) for n in range(1, 251)]

    tagged = zendesk.tag_tickets(zendesk_source.settings, {"api_token": TOKEN}, ids, "shipped", sleep=lambda _: None)

    assert tagged == 250
    assert [len(chunk) for chunk, _tags in fake.tag_updates] == [100, 100, 50]
    assert [r.query["ids"].split(",")[:2] for r in fake.requests] == [["1", "2"], ["101", "102"], ["201", "202"]]


def test_rejected_credentials_are_reported_per_source_without_a_history_row(
    shipped: BacklogItem, zendesk_source: Source, product_manager: Any
) -> None:
    zendesk_source.credentials_encrypted = secrets_encrypt({"api_token": "wrong"})
    zendesk_source.save()

    outcome = shipped_item_tag_back(item=shipped, tag="shipped", user=product_manager)

    assert "rejected the credentials" in str(outcome["Zendesk EU"])
    assert not shipped.changes.filter(action="tagged").exists()


def test_a_429_is_waited_out(shipped: BacklogItem, fake: FakeZendesk, product_manager: Any) -> None:
    sleeps: list[float] = []
    real_route = fake.route
    answered: list[str] = []

    def route_once_limited(request: Any) -> Any:
        if request.path == UPDATE_MANY_PATH and not answered:
            answered.append("429")
            return Reply(429, {"error": "APIRateLimitExceeded"}, {"Retry-After": "7"})
        return real_route(request)

    fake.route = route_once_limited  # type: ignore[method-assign]

    outcome = shipped_item_tag_back(item=shipped, tag="shipped", user=product_manager, sleep=sleeps.append)

    assert outcome["Zendesk EU"] == 2 and sleeps == [7.0]


def test_an_unshipped_item_or_a_malformed_tag_is_refused(shipped: BacklogItem, product_manager: Any) -> None:
    with pytest.raises(BacklogError, match="one word"):
        shipped_item_tag_back(item=shipped, tag="two words", user=product_manager)
    planned = backlog_item_create(user=product_manager, title="Later", status="planned")
    with pytest.raises(BacklogError, match="mark it shipped"):
        shipped_item_tag_back(item=planned, tag="shipped", user=product_manager)


def test_the_targets_group_the_close_the_loop_tickets_by_source(shipped: BacklogItem) -> None:
    targets = shipped_item_tag_targets(item=shipped)

    assert [(t.source.name, t.external_ids, t.supported) for t in targets] == [
        ("Zendesk EU", ["11", "12"], True), ("helpdesk", ["U-1"], False)]


@pytest.mark.parametrize("persona", ["viewer", "support_lead", "outsider"])
def test_only_planners_may_tag(request: Any, client_for: Any, shipped: BacklogItem, fake: FakeZendesk,
                              persona: str) -> None:
    client = client_for(request.getfixturevalue(persona))

    response = client.post(reverse("backlog_item_tag_back", args=[shipped.pk]), {"tag": "shipped"})

    assert response.status_code == 403
    assert fake.tag_updates == []
    if persona != "outsider":
        body = client.get(reverse("backlog_item_detail", args=[shipped.pk])).content.decode()
        assert "Close the loop" in body and "in the help desk" not in body


@pytest.mark.django_db(transaction=True)  # no test transaction: the task runs on commit, inline, as in production
def test_a_product_manager_tags_from_the_item_page(client_for: Any, shipped: BacklogItem, fake: FakeZendesk,
                                                   product_manager: Any) -> None:
    client = client_for(product_manager)
    page = client.get(reverse("backlog_item_detail", args=[shipped.pk])).content.decode()
    assert "Tag these 2 tickets in the help desk (Zendesk EU)" in page
    assert f'value="threadline-shipped-{shipped.pk}"' in page and "Not possible for helpdesk" in page

    response = client.post(reverse("backlog_item_tag_back", args=[shipped.pk]), {"tag": "csv-fixed"}, follow=True)

    body = response.content.decode()
    assert "Tagged 2 tickets in Zendesk EU." in body
    assert "helpdesk: not tagged" in body
    assert "Tagged 2 tickets in Zendesk EU with csv-fixed" in body  # the history
    assert fake.tag_updates == [([11, 12], ["csv-fixed"])]


def test_inside_a_transaction_the_tagging_waits_for_the_commit(
    client_for: Any, shipped: BacklogItem, fake: FakeZendesk, product_manager: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    client = client_for(product_manager)
    url = reverse("backlog_item_tag_back", args=[shipped.pk])
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post(url, {"tag": "csv-fixed"}, follow=True)
        assert fake.tag_updates == []

    assert len(callbacks) == 1 and "history shows when it is done" in response.content.decode()
    assert fake.tag_updates == [([11, 12], ["csv-fixed"])]


def test_a_malformed_tag_is_explained(client_for: Any, shipped: BacklogItem, fake: FakeZendesk,
                                      product_manager: Any) -> None:
    response = client_for(product_manager).post(reverse("backlog_item_tag_back", args=[shipped.pk]),
                                                 {"tag": "no spaces please"}, follow=True)

    assert "A tag is one word" in response.content.decode()
    assert fake.tag_updates == []


def test_the_form_is_hidden_when_no_source_can_be_tagged(client_for: Any, shipped: BacklogItem,
                                                         zendesk_source: Source, product_manager: Any) -> None:
    zendesk_source.tickets.all().delete()

    body = client_for(product_manager).get(reverse("backlog_item_detail", args=[shipped.pk])).content.decode()

    assert "Close the loop" in body and "in the help desk" not in body


class FakeFreshdesk(FakeService):
    """Freshdesk's ticket read and update as the tagging uses them: HTTP Basic with the API key, ``tags`` replaced."""

    def __init__(self) -> None:
        super().__init__()
        self.tickets: dict[int, dict[str, Any]] = {
            7: {"id": 7, "subject": "Export cut off", "tags": ["billing"]},
            8: {"id": 8, "subject": "Export cut off again", "tags": []},
        }

    def route(self, request: Request) -> Reply:
        if request.headers.get("authorization") != "Basic " + base64.b64encode(b"fd-key:X").decode():
            return Reply(401, {"code": "invalid_credentials", "message": "You have to be logged in"})
        match = re.fullmatch(r"/api/v2/tickets/(\d+)", request.path)
        ticket = self.tickets.get(int(match.group(1))) if match else None
        if ticket is None:
            return Reply(404, None)
        if request.method == "PUT":
            ticket["tags"] = list(request.json()["tags"])
        return Reply(200, ticket)


def test_freshdesk_tickets_get_the_tag_added_to_their_own(product_manager: Any) -> None:
    fake = FakeFreshdesk()
    with serving(fake):
        settings = {"domain": "acme", "base_url": fake.base_url}

        first = freshdesk.tag_tickets(settings, {"api_key": "fd-key"}, ["7", "8", "9"], "shipped", sleep=lambda _: 0)
        again = freshdesk.tag_tickets(settings, {"api_key": "fd-key"}, ["7", "8"], "shipped", sleep=lambda _: 0)

    assert (first, again) == (2, 2)  # 9 was deleted in the help desk
    assert fake.tickets[7]["tags"] == ["billing", "shipped"] and fake.tickets[8]["tags"] == ["shipped"]
    assert [r.method for r in fake.requests].count("PUT") == 2  # the second run found the tag there already


def test_the_item_page_reads_in_a_fixed_number_of_queries_however_many_sources(
    client_for: Any, shipped: BacklogItem, product_manager: Any
) -> None:
    from django.core.cache import cache
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = client_for(product_manager)
    url = reverse("backlog_item_detail", args=[shipped.pk])
    cache.clear()  # the demand figures are cached: measure both requests cold
    with CaptureQueriesContext(connection) as before:
        client.get(url)
    theme = shipped.theme_links.get().theme
    for n in range(3):
        other = Source.objects.create(name=f"Zendesk {n}", kind=SourceKind.ZENDESK, settings={"subdomain": "x"})
        make_ticket(other, f"9{n}", email=f"x{n}@acme.test", days_ago=3, themes=(theme,))

    cache.clear()
    with CaptureQueriesContext(connection) as after:
        page = client.get(url).content.decode()

    assert "Tag these 5 tickets in the help desk (Zendesk 0, Zendesk 1, Zendesk 2, Zendesk EU)" in page
    assert len(after.captured_queries) == len(before.captured_queries)
