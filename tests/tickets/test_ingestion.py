from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from tickets.models import Customer, IngestBatch, IngestBatchStatus, Message, Organization, Ticket
from tickets.records import InvalidRecord, ticket_record_from_dict
from tickets.services import ingest_records

pytestmark = pytest.mark.django_db


def row(external_id: str = "T-1", **overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "external_id": external_id,
        "subject": "Card declined abroad",
        "body": "My card is declined in Spain",
        "created_at": "2026-03-01T09:30:00Z",
        "requester_email": "Mia@Example.com",
        "requester_name": "Mia",
        "organization": "Acme",
        "plan": "pro",
        "arr": "12,000",
        "channel": "e-mail",
        "status": "resolved",
        "tags": "billing; cards",
        "csat": "4",
    }
    data.update(overrides)
    return data


def records(*rows: dict[str, object]) -> list:
    return [ticket_record_from_dict(r) for r in rows]


def test_it_creates_tickets_with_their_people_and_messages(source) -> None:
    counts = ingest_records(source=source, records=records(row("T-1"), row("T-2", requester_email="x@y.z")))

    assert (counts.created, counts.updated, counts.unchanged) == (2, 0, 0)
    ticket = Ticket.objects.select_related("requester", "organization").get(external_id="T-1")
    assert ticket.channel == "email" and ticket.status == "solved" and ticket.csat == 4
    assert ticket.tags == ["billing", "cards"]
    assert ticket.requester.email == "mia@example.com"
    assert ticket.organization.name == "Acme" and ticket.organization.arr == Decimal("12000.00")
    assert ticket.created_at == datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    assert list(ticket.messages.values_list("body", "author_role")) == [("My card is declined in Spain", "customer")]
    assert Organization.objects.count() == 1 and Customer.objects.count() == 2


def test_importing_the_same_records_twice_changes_nothing(source) -> None:
    data = [row("T-1"), row("T-2", messages=[{"body": "hi", "role": "customer"}, {"body": "hello", "role": "agent"}])]
    ingest_records(source=source, records=records(*data))
    snapshot = list(Ticket.objects.order_by("pk").values()), list(Message.objects.order_by("pk").values())

    counts = ingest_records(source=source, records=records(*data))

    assert (counts.created, counts.updated, counts.unchanged) == (0, 0, 2)
    assert (list(Ticket.objects.order_by("pk").values()), list(Message.objects.order_by("pk").values())) == snapshot
    assert IngestBatch.objects.count() == 1


def test_a_changed_ticket_is_updated_in_place_with_its_messages(source) -> None:
    ingest_records(source=source, records=records(row("T-1", messages=[{"external_id": "m1", "body": "first"}])))
    ticket_id = Ticket.objects.get().pk

    counts = ingest_records(
        source=source,
        records=records(
            row("T-1", status="closed", messages=[{"external_id": "m1", "body": "first, edited"},
                                                  {"external_id": "m2", "body": "reply", "role": "agent"}])
        ),
    )

    assert (counts.created, counts.updated) == (0, 1)
    ticket = Ticket.objects.get()
    assert ticket.pk == ticket_id and ticket.status == "closed"
    assert list(ticket.messages.values_list("external_id", "body")) == [("m1", "first, edited"), ("m2", "reply")]


def test_a_repeated_id_within_one_import_is_applied_in_order(source) -> None:
    counts = ingest_records(source=source, records=records(row("T-1"), row("T-1", subject="later")))

    assert (counts.created, counts.updated) == (1, 1)
    assert Ticket.objects.get().subject == "later"


def test_an_empty_field_never_erases_what_another_ticket_said(source) -> None:
    ingest_records(source=source, records=records(row("T-1", plan="enterprise", arr="50000")))
    ingest_records(source=source, records=records(row("T-2", plan="", arr="")))

    organization = Organization.objects.get()
    assert organization.plan == "enterprise" and organization.arr == Decimal("50000.00")


def test_each_committed_batch_is_handed_over_and_processed(source, django_capture_on_commit_callbacks) -> None:
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        ingest_records(source=source, records=records(*(row(f"T-{i}") for i in range(5))), batch_size=2)

    batches = list(IngestBatch.objects.order_by("pk"))
    assert [len(b.ticket_ids) for b in batches] == [2, 2, 1]
    # Tasks run inline in the embedded configuration the tests use, once each batch commits.
    assert len(callbacks) == 3
    assert all(b.status == IngestBatchStatus.PROCESSED and b.processed_count == len(b.ticket_ids) for b in batches)


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"external_id": ""}, "external_id is required"),
        ({"body": ""}, "body is required"),
        ({"created_at": "yesterday"}, "created_at 'yesterday' is not a date"),
        ({"csat": "7"}, "csat 7 is outside 1-5"),
        ({"arr": "lots"}, "arr 'lots' is not a number"),
        ({"status": "exploded"}, "status 'exploded' is not one of"),
        ({"messages": "[{"}, "messages is not valid JSON"),
        ({"messages": [{"body": "x", "role": "alien"}]}, "messages[0]: author_role 'alien'"),
        ({"requester_email": "not-an-email"}, "requester_email 'not-an-email' is not an email"),
        ({"body": "x" * 100_001}, "body is 100,001 characters long"),
    ],
)
def test_invalid_records_are_refused_with_a_reason(overrides: dict[str, object], reason: str) -> None:
    with pytest.raises(InvalidRecord, match=reason.replace("[", r"\[").replace("]", r"\]")):
        ticket_record_from_dict(row(**overrides))


def test_timestamps_accept_unix_seconds_and_treat_naive_times_as_utc() -> None:
    assert ticket_record_from_dict(row(created_at=1772357400)).created_at == datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    assert ticket_record_from_dict(row(created_at="2026-03-01 09:30:00")).created_at.tzinfo is UTC
