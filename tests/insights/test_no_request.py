"""No request, no theme: tickets in which the customer asked nothing are kept out of themes and the
triage queue, counted and filterable; a support lead marks (and unmarks) them and the model learns it."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from insights.models import (
    NO_REQUEST_CLASS,
    AssignmentMethod,
    ModelKind,
    ModelVersion,
    NoRequestMethod,
    Theme,
    ThemeChange,
    ThemeStatus,
    TicketAnalysis,
    TicketTheme,
)
from insights.services import (
    classifier_retrain,
    representation_fit,
    ticket_no_request_mark,
    ticket_no_request_undo,
    ticket_retag,
)
from tickets.records import ticket_record_from_dict
from tickets.services import ingest_records

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}

PROBLEMS = {
    "Card declined abroad": ["my card is declined abroad", "card payment fails in spain", "declined card when travelling",
                             "card refused at a shop in france", "payment declined on holiday abroad"],
    "CSV export cut off": ["csv export stops at 10000 rows", "export is cut off", "the csv file is incomplete",
                           "export only has part of the rows", "exported csv missing rows"],
}
# Asking nothing in a way text preparation cannot know: marketing sent to the support address.
SPAM = ["cheap watches at the best prices visit our store", "seo services to rank your website first on google",
        "buy cheap followers and likes for your store", "best prices on replica watches this week only",
        "grow your website traffic with our seo agency"]


def _ingest(source: Any, capture: Any, *rows: dict[str, str]) -> None:
    with capture(execute=True):
        ingest_records(source=source, records=[
            ticket_record_from_dict({"created_at": "2026-03-01T10:00:00Z", **row}) for row in rows
        ])


def _analysis(external_id: str) -> TicketAnalysis:
    return TicketAnalysis.objects.get(ticket__external_id=external_id)


def _queued(source: Any, capture: Any, external_id: str) -> Any:
    """A ticket the model could not theme: in the triage queue."""
    _ingest(source, capture, {"external_id": external_id, "body": "the widget wobbles"})
    TicketTheme.objects.filter(ticket__external_id=external_id).delete()
    TicketAnalysis.objects.filter(ticket__external_id=external_id).update(needs_triage=True)
    return source.tickets.get(external_id=external_id)


@pytest.fixture
def model(source, django_capture_on_commit_callbacks) -> dict[str, Theme]:
    """Two active themes with discovery's members, and an assignment model trained on them."""
    _ingest(source, django_capture_on_commit_callbacks, *[
        {"external_id": f"{name[:4]}-{i}", "body": text} for name, texts in PROBLEMS.items()
        for i, text in enumerate(texts)
    ])
    representation_fit()
    themes = {name: Theme.objects.create(name=name, status=ThemeStatus.ACTIVE) for name in PROBLEMS}
    for name, theme in themes.items():
        for ticket in source.tickets.filter(external_id__startswith=name[:4]):
            TicketTheme.objects.create(ticket=ticket, theme=theme, confidence=0.8, method=AssignmentMethod.DISCOVERY)
    with django_capture_on_commit_callbacks(execute=True):
        classifier_retrain()
    return themes


@pytest.fixture
def greeting(source, model, django_capture_on_commit_callbacks) -> TicketAnalysis:
    _ingest(source, django_capture_on_commit_callbacks, {"external_id": "hello-1", "subject": "Hi",
                                                         "body": "Hello there!"})
    return _analysis("hello-1")


# --- processing -------------------------------------------------------------------------------------


def test_processing_flags_a_greeting_and_gives_it_no_theme(greeting) -> None:
    assert greeting.no_request and greeting.no_request_method == NoRequestMethod.TEXT
    assert greeting.no_request_at is not None and greeting.no_request_by is None
    assert not greeting.needs_triage
    assert not TicketTheme.objects.filter(ticket_id=greeting.pk).exists()


def test_an_ordinary_ticket_is_not_flagged(model, source, django_capture_on_commit_callbacks) -> None:
    _ingest(source, django_capture_on_commit_callbacks, {"external_id": "n-1", "body": "my card is declined in rome"})

    analysis = _analysis("n-1")
    assert not analysis.no_request and analysis.no_request_method == ""


def test_a_ticket_that_starts_asking_something_goes_back_to_the_pool(
    greeting, source, django_capture_on_commit_callbacks
) -> None:
    _ingest(source, django_capture_on_commit_callbacks, {"external_id": "hello-1", "subject": "Hi",
                                                         "body": "Hello there! Our csv export stops at 10000 rows"})

    analysis = _analysis("hello-1")
    assert not analysis.no_request and analysis.no_request_method == ""
    assert TicketTheme.objects.filter(ticket_id=analysis.pk).exists() or analysis.needs_triage


def test_a_persons_decision_survives_a_changed_text(model, source, support_lead,
                                                    django_capture_on_commit_callbacks) -> None:
    _ingest(source, django_capture_on_commit_callbacks, {"external_id": "t-1", "body": "testing the form, ignore"})
    ticket_no_request_mark(ticket=source.tickets.get(external_id="t-1"), user=support_lead)

    _ingest(source, django_capture_on_commit_callbacks, {"external_id": "t-1", "body": "testing it again, ignore"})

    analysis = _analysis("t-1")
    assert analysis.no_request and analysis.no_request_method == NoRequestMethod.MANUAL
    assert analysis.no_request_by == support_lead and not analysis.needs_triage


# --- the triage queue, the count and the filter ----------------------------------------------------------


def test_the_triage_queue_leaves_no_request_tickets_out(client_for, support_lead, greeting, source,
                                                        django_capture_on_commit_callbacks) -> None:
    _queued(source, django_capture_on_commit_callbacks, "odd-1")
    TicketAnalysis.objects.filter(pk=greeting.pk).update(needs_triage=True)  # even if a writer left it queued

    queued = [item.ticket.external_id for item in client_for(support_lead).get(reverse("triage")).context["page"]]

    assert "odd-1" in queued and "hello-1" not in queued


def test_the_dashboard_counts_them_and_links_to_exactly_them(client_for, viewer, greeting) -> None:
    client = client_for(viewer)
    page = client.get(reverse("dashboard"), {"period": "custom", "start": "2026-02-01", "end": "2026-03-31"})
    totals = page.context["overview"].totals

    assert totals.no_request == 1
    assert "asking nothing" in page.content.decode()
    listed = client.get(totals.no_request_link).context["page"].object_list
    assert [t.external_id for t in listed] == ["hello-1"]


@pytest.mark.parametrize(("query", "expected"), [
    ({"no_request": "1"}, ["hello-1"]),
    ({"no_request": "true"}, ["hello-1"]),
    ({"no_request": "false"}, ["card-new"]),
    ({"unthemed": "true"}, []),
], ids=["one", "true", "false", "unthemed-excludes-them"])
def test_the_tickets_filter(client_for, viewer, greeting, source, django_capture_on_commit_callbacks,
                            query, expected) -> None:
    _ingest(source, django_capture_on_commit_callbacks, {"external_id": "card-new", "body": "card declined abroad"})
    response = client_for(viewer).get(reverse("ticket_list"), query)

    assert response.status_code == 200
    listed = {t.external_id for t in response.context["page"].object_list}
    assert sorted(listed & {"hello-1", "card-new"}) == expected


def test_the_tickets_page_says_which_ask_nothing_in_a_fixed_number_of_queries(
    client_for, viewer, greeting, django_assert_max_num_queries
) -> None:
    client = client_for(viewer)

    # session, user, permissions (2), the count (no analysis in it), groups, sources, the rows with their flag
    with django_assert_max_num_queries(8) as queries:
        page = client.get(reverse("ticket_list"))
    (count,) = [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"]]
    assert "ticketanalysis" not in count
    flags = {t.external_id: t.no_request for t in page.context["page"].object_list}
    assert flags["hello-1"] is True and flags["Card-0"] is False
    assert "No request</span>" in page.content.decode()
    assert "No request" in client.get(reverse("ticket_list"), {"no_request": "true"}).context["filter"].summary


def test_the_api_filters_them_too(client_for, viewer, greeting) -> None:
    response = client_for(viewer).get("/api/tickets/", {"no_request": "true"})

    assert response.status_code == 200
    assert [row["external_id"] for row in response.json()["results"]] == ["hello-1"]


# --- a support lead marks and unmarks ----------------------------------------------------------------------


def test_a_support_lead_marks_a_ticket_from_its_page_and_it_is_audited(client_for, support_lead, model, source) -> None:
    ticket = source.tickets.get(external_id="Card-0")
    before = sorted(TicketTheme.objects.filter(ticket=ticket).values_list("theme__name", flat=True))

    response = client_for(support_lead).post(reverse("ticket_no_request", args=[ticket.pk]), **HTMX)

    assert response.status_code == 302 and response["Location"] == reverse("ticket_detail", args=[ticket.pk])
    analysis = _analysis("Card-0")
    assert analysis.no_request and analysis.no_request_method == NoRequestMethod.MANUAL
    assert analysis.no_request_by == support_lead and not analysis.needs_triage
    assert not TicketTheme.objects.filter(ticket=ticket).exists()
    change = ThemeChange.objects.get(action="no_request")
    assert change.ticket == ticket and change.user == support_lead
    assert change.before["themes"] == before and change.after == {"no_request": True}
    page = client_for(support_lead).get(reverse("ticket_detail", args=[ticket.pk])).content.decode()
    assert "Marked by" in page and reverse("ticket_no_request_undo", args=[ticket.pk]) in page


def test_undo_sends_the_ticket_back_to_the_queue_and_the_model(client_for, support_lead, greeting,
                                                                django_capture_on_commit_callbacks) -> None:
    ticket = greeting.ticket

    with django_capture_on_commit_callbacks(execute=True):
        client_for(support_lead).post(reverse("ticket_no_request_undo", args=[ticket.pk]))

    analysis = _analysis("hello-1")
    assert not analysis.no_request and analysis.no_request_method == NoRequestMethod.MANUAL
    assert analysis.needs_triage
    active = ModelVersion.objects.get(kind=ModelKind.CLASSIFIER, is_active=True)
    assert analysis.classifier_version == active  # assigned again once the undo committed
    change = ThemeChange.objects.get(action="request")
    assert change.user == support_lead and change.before == {"no_request": True, "method": "text"}


def test_the_triage_queue_marks_and_undoes_in_place(client_for, support_lead, model, source,
                                                    django_capture_on_commit_callbacks) -> None:
    ticket = _queued(source, django_capture_on_commit_callbacks, "odd-1")
    client = client_for(support_lead)
    assert 'data-action="no-request"' in client.get(reverse("triage")).content.decode()

    marked = client.post(reverse("ticket_no_request", args=[ticket.pk]), {"from": "triage"}, **HTMX)
    assert marked.status_code == 200 and "Marked as <b>no request</b>" in marked.content.decode()
    assert not [item for item in client.get(reverse("triage")).context["page"] if item.ticket_id == ticket.pk]

    undone = client.post(reverse("ticket_no_request_undo", args=[ticket.pk]), {"from": "triage"}, **HTMX)
    assert undone.status_code == 200 and 'data-action="no-request"' in undone.content.decode()
    assert _analysis("odd-1").needs_triage


def test_a_plain_post_from_elsewhere_never_redirects_off_site(client_for, support_lead, greeting) -> None:
    response = client_for(support_lead).post(reverse("ticket_no_request", args=[greeting.pk]),
                                             {"next": "https://evil.example/"})

    assert response["Location"] == reverse("ticket_detail", args=[greeting.pk])


@pytest.mark.parametrize("persona", ["viewer", "product_manager"])
def test_viewers_and_product_managers_cannot_mark(request, client_for, model, source, persona) -> None:
    ticket = source.tickets.get(external_id="Card-0")
    client = client_for(request.getfixturevalue(persona))

    assert client.post(reverse("ticket_no_request", args=[ticket.pk])).status_code == 403
    assert client.post(reverse("ticket_no_request_undo", args=[ticket.pk])).status_code == 403
    assert not _analysis("Card-0").no_request
    assert "Mark as no request" not in client.get(reverse("ticket_detail", args=[ticket.pk])).content.decode()


def test_marking_is_post_only(client_for, support_lead, greeting) -> None:
    assert client_for(support_lead).get(reverse("ticket_no_request", args=[greeting.pk])).status_code == 405


def test_giving_a_no_request_ticket_themes_says_it_asks_something(support_lead, greeting, model) -> None:
    ticket_retag(ticket=greeting.ticket, themes=[model["CSV export cut off"]], user=support_lead)

    analysis = _analysis("hello-1")
    assert not analysis.no_request and analysis.no_request_method == NoRequestMethod.MANUAL
    assert ThemeChange.objects.get(action="retag").before == {"themes": [], "no_request": True}


def test_undoing_a_ticket_that_is_not_marked_is_refused(support_lead, model, source) -> None:
    from insights.services import ThemeActionError

    with pytest.raises(ThemeActionError):
        ticket_no_request_undo(ticket=source.tickets.get(external_id="Card-0"), user=support_lead)


# --- the model learns it -----------------------------------------------------------------------------------------


@pytest.fixture
def learnt(model, source, support_lead, django_capture_on_commit_callbacks) -> ModelVersion:
    """A support lead marked five spam tickets; the retrained model knows the no-request class."""
    _ingest(source, django_capture_on_commit_callbacks, *[
        {"external_id": f"spam-{i}", "body": text} for i, text in enumerate(SPAM)
    ])
    for ticket in source.tickets.filter(external_id__startswith="spam-"):
        ticket_no_request_mark(ticket=ticket, user=support_lead)
    with django_capture_on_commit_callbacks(execute=True):
        version = classifier_retrain()
    assert version is not None and version.is_active
    return version


def test_retraining_teaches_the_model_to_recognise_look_alikes(learnt, model, source,
                                                               django_capture_on_commit_callbacks) -> None:
    assert NO_REQUEST_CLASS in learnt.metrics["theme_keys"]

    _ingest(source, django_capture_on_commit_callbacks,
            {"external_id": "spam-new", "body": "cheap watches and seo services at the best prices"},
            {"external_id": "card-new", "body": "my card was declined while abroad in italy"})

    spam = _analysis("spam-new")
    assert spam.no_request and spam.no_request_method == NoRequestMethod.MODEL
    assert not spam.needs_triage and spam.best_theme is None
    assert not TicketTheme.objects.filter(ticket_id=spam.pk).exists()
    card = _analysis("card-new")
    assert not card.no_request and card.best_theme == model["Card declined abroad"]


def test_a_person_overrules_the_model_and_it_does_not_flag_the_ticket_again(
    learnt, source, support_lead, django_capture_on_commit_callbacks
) -> None:
    _ingest(source, django_capture_on_commit_callbacks,
            {"external_id": "spam-new", "body": "cheap watches and seo services at the best prices"})
    ticket = source.tickets.get(external_id="spam-new")

    with django_capture_on_commit_callbacks(execute=True):
        ticket_no_request_undo(ticket=ticket, user=support_lead)

    analysis = _analysis("spam-new")
    assert analysis.classifier_version == learnt  # the model ran again, and a person's word stood
    assert not analysis.no_request and analysis.no_request_method == NoRequestMethod.MANUAL


def test_the_reserved_class_is_never_a_theme_anywhere(client_for, admin_user, learnt, source,
                                                      django_capture_on_commit_callbacks) -> None:
    from insights.services import theme_stats_refresh

    _ingest(source, django_capture_on_commit_callbacks,
            {"external_id": "spam-new", "body": "cheap watches and seo services at the best prices"})
    theme_stats_refresh()
    client = client_for(admin_user)
    query = {"period": "custom", "start": "2026-02-01", "end": "2026-03-31"}

    assert not Theme.objects.filter(name__icontains="no-request").exists()
    assert set(TicketTheme.objects.values_list("theme__name", flat=True)) <= set(PROBLEMS)
    for name in ("dashboard", "theme_list", "triage", "roadmap_unaddressed"):
        assert NO_REQUEST_CLASS not in client.get(reverse(name), query).content.decode(), name
    csv = client.get(reverse("dashboard"), {**query, "format": "csv", "table": "themes"}).content.decode()
    assert NO_REQUEST_CLASS not in csv and "Card declined abroad" in csv


def test_corrections_count_towards_retraining(learnt, support_lead, source) -> None:
    from insights.selectors import corrections_since_training

    ticket_no_request_mark(ticket=source.tickets.get(external_id="Card-1"), user=support_lead)

    assert corrections_since_training()[0] == 1


# --- existing installs ---------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_migration_flags_the_empty_texts_of_an_existing_install() -> None:
    from datetime import UTC, datetime

    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before = [("insights", "0004_triage_affected_order")]
    after = [("insights", "0005_ticket_analysis_no_request")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    try:
        old = executor.loader.project_state(before).apps
        source = old.get_model("tickets", "Source").objects.create(name="old", kind="upload")
        theme = old.get_model("insights", "Theme").objects.create(name="Cards", status="active")
        tickets, rows = old.get_model("tickets", "Ticket").objects, old.get_model("insights", "TicketTheme").objects
        for external_id, text, method in [("empty", "", "model"), ("asks", "card declined", "model"),
                                          ("kept", "", "manual")]:
            ticket = tickets.create(source=source, external_id=external_id, created_at=datetime(2026, 3, 1, tzinfo=UTC),
                                    content_hash="x")
            old.get_model("insights", "TicketAnalysis").objects.create(ticket=ticket, text=text, content_hash="x",
                                                                        needs_triage=True)
            rows.create(ticket=ticket, theme=theme, confidence=0.6, method=method)

        executor = MigrationExecutor(connection)
        executor.migrate(after)

        new = executor.loader.project_state(after).apps
        analyses = {a.ticket.external_id: a for a in new.get_model("insights", "TicketAnalysis").objects.all()}
        assert analyses["empty"].no_request and analyses["empty"].no_request_method == "text"
        assert not analyses["empty"].needs_triage
        assert not analyses["asks"].no_request and not analyses["kept"].no_request
        themed = set(new.get_model("insights", "TicketTheme").objects.values_list("ticket__external_id", flat=True))
        assert themed == {"asks", "kept"}
        assert new.get_model("insights", "ThemeStatDirtyDay").objects.exists()
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
