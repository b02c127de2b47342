"""The suggested themes page over HTTP: review actions, discovery's start and status, permissions."""

from __future__ import annotations

import numpy as np
import pytest
from django.urls import reverse

from insights.models import (
    AssignmentMethod,
    DiscoveryRun,
    DiscoveryRunStatus,
    Theme,
    ThemeChange,
    ThemeStatus,
    TicketTheme,
)

pytestmark = pytest.mark.django_db

PERSONAS = ["admin_user", "support_lead", "product_manager", "viewer", "outsider"]
CURATORS = {"admin_user", "support_lead"}
HTMX = {"HTTP_HX_REQUEST": "true"}


def _centroid(*values: float) -> bytes:
    vector = np.asarray(values, dtype=np.float32)
    return (vector / np.linalg.norm(vector)).tobytes()


@pytest.fixture
def suggestion(tickets) -> Theme:
    """Discovery's proposal: the two export tickets, close to the active "CSV exports" theme."""
    run = DiscoveryRun.objects.create(status=DiscoveryRunStatus.SUCCEEDED, pool_size=6,
                                      report={"pool": 6, "new": [{"id": 0}], "merge": [], "split": []})
    theme = Theme.objects.create(
        name="export stops rows", keywords=["export", "csv", "rows"], status=ThemeStatus.SUGGESTED,
        centroid=_centroid(1, 0.1, 0), centroid_representation="1", discovery_run=run,
        example_ticket_ids=[tickets[2].pk, tickets[3].pk], suggested_size=2,
    )
    for ticket in tickets[2:4]:
        TicketTheme.objects.create(ticket=ticket, theme=theme, confidence=0.8, method=AssignmentMethod.DISCOVERY)
    return theme


@pytest.fixture
def exports(db) -> Theme:
    return Theme.objects.create(name="CSV exports", status=ThemeStatus.ACTIVE, centroid=_centroid(1, 0, 0),
                                centroid_representation="1")


def _post(client, name: str, theme: Theme, data: dict | None = None, **extra):
    return client.post(reverse(name, args=[theme.pk]), data or {}, **{**HTMX, **extra})


@pytest.mark.parametrize("persona", PERSONAS)
def test_the_page_and_its_partials_are_for_curators_only(request, client_for, suggestion, persona) -> None:
    client = client_for(request.getfixturevalue(persona))
    expected = 200 if persona in CURATORS else 403

    assert client.get(reverse("suggested_themes")).status_code == expected
    assert client.get(reverse("suggested_card", args=[suggestion.pk]), {"mode": "split"}, **HTMX).status_code == (
        expected
    )
    assert client.get(reverse("discovery_status"), **HTMX).status_code == expected


@pytest.mark.parametrize("persona", ["product_manager", "viewer", "outsider"])
@pytest.mark.parametrize("action", ["suggested_accept", "suggested_rename", "suggested_dismiss", "suggested_merge",
                                    "suggested_split"])
def test_every_action_is_refused_to_non_curators(request, client_for, suggestion, exports, persona, action) -> None:
    response = _post(client_for(request.getfixturevalue(persona)), action, suggestion, {"name": "x", "into": 1})

    assert response.status_code == 403
    suggestion.refresh_from_db()
    assert (suggestion.status, suggestion.name) == (ThemeStatus.SUGGESTED, "export stops rows")


@pytest.mark.parametrize("name", ["suggested_themes", "suggested_card", "suggested_accept", "discovery_start",
                                  "discovery_status", "themes_merge_group"])
def test_anonymous_visitors_are_sent_to_sign_in(client_for, suggestion, name) -> None:
    needs_pk = name in {"suggested_card", "suggested_accept"}
    url = reverse(name, args=[suggestion.pk]) if needs_pk else reverse(name)
    client = client_for(None)

    response = client.get(url) if name in {"suggested_themes", "suggested_card", "discovery_status"} else client.post(url)

    assert response.status_code == 302 and response["Location"].startswith("/login/?next=")


@pytest.mark.parametrize("name", ["suggested_accept", "suggested_dismiss", "discovery_start", "themes_merge_group"])
def test_actions_are_post_only(client_for, support_lead, suggestion, name) -> None:
    url = reverse(name, args=[suggestion.pk]) if name.startswith("suggested_") else reverse(name)

    assert client_for(support_lead).get(url).status_code == 405


def test_it_shows_what_discovery_proposed(client_for, support_lead, suggestion, exports, tickets) -> None:
    page = client_for(support_lead).get(reverse("suggested_themes")).content.decode()

    assert "export stops rows" in page and "csv" in page and "<b>2</b> tickets" in page
    assert tickets[2].subject in page and tickets[3].subject in page  # examples
    assert "CSV exports" in page  # the close active theme, offered as a merge target
    assert "Looked at the 6 tickets then in the triage pool" in page and "Run discovery now" in page


def test_the_last_run_says_how_the_queue_has_changed_since(client_for, support_lead, suggestion) -> None:
    from insights.models import DiscoveryRun, TicketAnalysis

    DiscoveryRun.objects.update(pool_size=40)
    queued = TicketAnalysis.objects.filter(needs_triage=True, no_request=False).count()

    page = client_for(support_lead).get(reverse("suggested_themes")).content.decode()

    assert "Looked at the 40 tickets then in the triage pool" in page
    assert f"holds {queued} now" in page


def test_accepting_makes_the_theme_active_and_is_audited(client_for, support_lead, suggestion) -> None:
    body = _post(client_for(support_lead), "suggested_accept", suggestion).content.decode()

    suggestion.refresh_from_db()
    assert suggestion.status == ThemeStatus.ACTIVE
    assert "Accepted" in body and reverse("theme_detail", args=[suggestion.pk]) in body
    assert ThemeChange.objects.get().action == "accept"


def test_rename_and_accept_takes_the_new_name(client_for, support_lead, suggestion) -> None:
    _post(client_for(support_lead), "suggested_accept", suggestion, {"name": "CSV export stops at 10,000 rows"})

    suggestion.refresh_from_db()
    assert (suggestion.name, suggestion.status) == ("CSV export stops at 10,000 rows", ThemeStatus.ACTIVE)


def test_renaming_keeps_it_a_suggestion(client_for, support_lead, suggestion) -> None:
    body = _post(client_for(support_lead), "suggested_rename", suggestion, {"name": "Export cut off"}).content.decode()

    suggestion.refresh_from_db()
    assert (suggestion.name, suggestion.status) == ("Export cut off", ThemeStatus.SUGGESTED)
    assert "Renamed" in body and "Accept" in body


def test_renaming_to_nothing_shows_the_form_with_the_reason(client_for, support_lead, suggestion) -> None:
    body = _post(client_for(support_lead), "suggested_rename", suggestion, {"name": ""}).content.decode()

    assert "A theme needs a name" in body and 'name="name"' in body


def test_merging_moves_its_tickets_into_the_existing_theme(client_for, support_lead, suggestion, exports) -> None:
    body = _post(client_for(support_lead), "suggested_merge", suggestion, {"into": exports.pk}).content.decode()

    suggestion.refresh_from_db()
    assert (suggestion.status, suggestion.merged_into) == (ThemeStatus.MERGED, exports)
    assert exports.ticket_themes.count() == 2
    assert "Merged into “CSV exports”" in body


def test_splitting_makes_a_new_active_theme_of_the_ticked_tickets(client_for, support_lead, suggestion, tickets) -> None:
    client = client_for(support_lead)
    form = client.get(reverse("suggested_card", args=[suggestion.pk]), {"mode": "split"}, **HTMX).content.decode()
    assert tickets[3].subject in form

    body = _post(client, "suggested_split", suggestion, {"name": "Export cut off", "tickets": [tickets[3].pk]})

    part = Theme.objects.get(name="Export cut off")
    assert part.status == ThemeStatus.ACTIVE
    assert list(part.ticket_themes.values_list("ticket_id", flat=True)) == [tickets[3].pk]
    assert list(suggestion.ticket_themes.values_list("ticket_id", flat=True)) == [tickets[2].pk]
    assert "Split off “Export cut off” (1 ticket)" in body.content.decode()


def test_a_split_needs_ticked_tickets(client_for, support_lead, suggestion) -> None:
    body = _post(client_for(support_lead), "suggested_split", suggestion, {"name": "Part"}).content.decode()

    assert "Tick the tickets" in body
    assert not Theme.objects.filter(name="Part").exists()


def test_dismissing_sends_its_tickets_back_to_the_pool(client_for, support_lead, suggestion) -> None:
    body = _post(client_for(support_lead), "suggested_dismiss", suggestion).content.decode()

    suggestion.refresh_from_db()
    assert suggestion.status == ThemeStatus.DISMISSED and not suggestion.ticket_themes.exists()
    assert "Dismissed" in body


def test_an_action_on_a_theme_no_longer_suggested_explains_why(client_for, support_lead, suggestion) -> None:
    client = client_for(support_lead)
    _post(client, "suggested_accept", suggestion)

    body = _post(client, "suggested_dismiss", suggestion).content.decode()

    assert "is not a suggestion" in body


def test_discovery_s_merge_groups_can_be_merged(client_for, support_lead, exports, active_theme) -> None:
    other = active_theme("Export limit")
    DiscoveryRun.objects.create(status=DiscoveryRunStatus.SUCCEEDED,
                                report={"merge": [[str(exports.pk), str(other.pk)]], "new": []})
    client = client_for(support_lead)
    assert "Discovery thinks these are one problem" in client.get(reverse("suggested_themes")).content.decode()

    client.post(reverse("themes_merge_group"), {"themes": [exports.pk, other.pk], "into": exports.pk})

    other.refresh_from_db()
    assert (other.status, other.merged_into) == (ThemeStatus.MERGED, exports)


def test_run_discovery_now_starts_a_run_and_reports_it(
    client_for, support_lead, tickets, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(support_lead).post(reverse("discovery_start"), **HTMX)

    run = DiscoveryRun.objects.get()
    assert run.status in {DiscoveryRunStatus.SUCCEEDED, DiscoveryRunStatus.FAILED}
    assert response.status_code == 200 and 'id="discovery-status"' in response.content.decode()


def test_while_a_run_is_going_the_status_polls_and_shows_progress(client_for, support_lead, db) -> None:
    DiscoveryRun.objects.create(status=DiscoveryRunStatus.RUNNING, phase="clustering", progress_done=50,
                                progress_total=100)

    body = client_for(support_lead).get(reverse("discovery_status"), {"watching": "1"}, **HTMX).content.decode()

    assert 'hx-trigger="every 2s"' in body and "Finding and naming themes" in body and "50 of 100" in body


def test_a_second_start_while_one_runs_queues_nothing(client_for, support_lead, db, django_capture_on_commit_callbacks):
    DiscoveryRun.objects.create(status=DiscoveryRunStatus.RUNNING, phase="clustering")

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        body = client_for(support_lead).post(reverse("discovery_start"), **HTMX).content.decode()

    assert callbacks == [] and DiscoveryRun.objects.count() == 1 and "Running" in body


def test_a_queued_run_waits_for_a_worker_then_tells_the_page_when_it_finished(client_for, support_lead, db) -> None:
    client = client_for(support_lead)
    run = DiscoveryRun.objects.create(phase="queued")
    queued = client.get(reverse("discovery_status"), {"watching": "1"}, **HTMX)
    assert "waiting for a worker" in queued.content.decode() and "every 2s" in queued.content.decode()

    DiscoveryRun.objects.filter(pk=run.pk).update(status=DiscoveryRunStatus.SUCCEEDED, phase="done", pool_size=3)
    done = client.get(reverse("discovery_status"), {"watching": "1"}, **HTMX)

    assert done["HX-Trigger"] == "discovery-finished" and "every 2s" not in done.content.decode()
    assert "Looked at the 3 tickets then in the triage pool" in done.content.decode()


@pytest.mark.django_db(transaction=True)
def test_a_failed_run_started_from_the_page_shows_its_failure(client_for, support_lead, tickets, monkeypatch) -> None:
    """Tasks run inline here, as in the embedded run: the failure happens within the click."""
    from insights.services import discovery

    def broken(*args, **kwargs):
        raise RuntimeError("clustering ran out of memory")

    monkeypatch.setattr(discovery, "_discover_and_propose", broken)
    response = client_for(support_lead).post(reverse("discovery_start"), **HTMX)

    assert response.status_code == 200 and "clustering ran out of memory" in response.content.decode()


def test_no_suggestions_says_what_to_do_next(client_for, support_lead, db) -> None:
    page = client_for(support_lead).get(reverse("suggested_themes")).content.decode()

    assert "No suggestions waiting" in page and "Discovery has not run yet" in page


def test_the_page_reads_its_cards_in_a_fixed_number_of_queries(
    client_for, support_lead, tickets, exports, django_assert_max_num_queries
) -> None:
    for i in range(15):
        theme = Theme.objects.create(name=f"suggestion {i}", status=ThemeStatus.SUGGESTED,
                                     centroid=_centroid(1, i, 0), centroid_representation="1",
                                     example_ticket_ids=[t.pk for t in tickets[:3]])
        TicketTheme.objects.create(ticket=tickets[i % 6], theme=theme, confidence=0.7, method="discovery")
    client = client_for(support_lead)

    with django_assert_max_num_queries(12):
        response = client.get(reverse("suggested_themes"))
    assert len(response.context["cards"]) == 12


def test_active_themes_are_counted_alike_on_the_suggested_page_and_the_themes_list(client_for, support_lead,
                                                                                   suggestion) -> None:
    """An area is a heading over its themes, not one more active theme, on every page."""
    area = Theme.objects.create(name="Billing", status=ThemeStatus.ACTIVE)
    Theme.objects.create(name="Invoice VAT", status=ThemeStatus.ACTIVE, parent=area)
    client = client_for(support_lead)

    listed = client.get(reverse("theme_list")).context
    suggested = client.get(reverse("suggested_themes")).context

    assert suggested["active_count"] == Theme.objects.filter(status=ThemeStatus.ACTIVE).count() - 1
    assert listed["page"].paginator.count == suggested["active_count"]
