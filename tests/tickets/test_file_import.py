"""File import: the CSV/JSONL reader (a library, tiny files in, items out), the import service and
the ``import_tickets`` command."""

from __future__ import annotations

import json
import re
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from tickets.connectors import files
from tickets.connectors.files import FileFormatError, Rejection, TicketFile
from tickets.management.commands import import_tickets
from tickets.models import IngestBatch, Message, Source, SourceKind, SyncRun, SyncRunStatus, SyncTrigger, Ticket
from tickets.records import TicketRecord
from tickets.services import SourceDisabled, file_import_create, file_import_run, file_import_upload

HEADER = "external_id,subject,body,created_at,requester_email,organization,plan,arr,channel,status,tags,csat\n"
GOOD_CSV = (
    HEADER
    + "T-1,Card declined,My card is declined,2026-03-01T09:30:00Z,mia@acme.test,Acme,pro,12000,email,open,billing,4\n"
    + "T-2,Export,Export stops at 10k rows,2026-03-02T10:00:00Z,bo@acme.test,Acme,pro,12000,chat,solved,,\n"
)
MIXED_CSV = (
    HEADER
    + "T-1,Card declined,My card is declined,2026-03-01T09:30:00Z,,,,,,,,\n"
    + "T-2,Bad date,body,yesterday,,,,,,,,\n"
    + "T-3,Fine,body,2026-03-01,,,,,,,,\n"
    + "T-4,Bad csat,body,2026-03-01,,,,,,,,9\n"
)


def write(tmp_path: Path, content: str | bytes, name: str = "tickets.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def read(tmp_path: Path, content: str | bytes, name: str = "tickets.csv") -> list[TicketRecord | Rejection]:
    return list(TicketFile(write(tmp_path, content, name)))


def summary(items: list[TicketRecord | Rejection]) -> list[tuple[str, Any]]:
    """Each item as ("ok", external_id) or ("rejected", line)."""
    return [("rejected", i.line) if isinstance(i, Rejection) else ("ok", i.external_id) for i in items]


# The reader ---------------------------------------------------------------------------------------


def test_it_reads_every_documented_csv_column(tmp_path) -> None:
    messages = json.dumps([{"body": "Hi, card declined", "role": "customer"}, {"body": "Fixed", "role": "agent"}])
    csv_text = HEADER.strip() + ",messages\n" + (
        "T-1,Card,ignored,2026-03-01T09:30:00Z,mia@acme.test,Acme,pro,12000,e-mail,resolved,a;b,5,"
        + '"' + messages.replace('"', '""') + '"\n'
    )

    [record] = read(tmp_path, csv_text)

    assert isinstance(record, TicketRecord)
    assert (record.channel, record.status, record.tags, record.csat) == ("email", "solved", ("a", "b"), 5)
    assert record.organization and record.organization.plan == "pro"
    assert [(m.author_role, m.body) for m in record.messages] == [("customer", "Hi, card declined"), ("agent", "Fixed")]


def test_a_quoted_multi_line_field_keeps_later_line_numbers_true(tmp_path) -> None:
    content = (
        "external_id,body,created_at\n"          # line 1
        'T-1,"first line\nsecond line\n\nfourth",2026-03-01\n'  # lines 2-5
        "T-2,body,not a date\n"                   # line 6
        '"T-3","also\r\nsplit",nope\n'            # lines 7-8
        "T-4,body,2026-03-01\n"                   # line 9
    )

    items = read(tmp_path, content)

    assert summary(items) == [("ok", "T-1"), ("rejected", 6), ("rejected", 7), ("ok", "T-4")]
    assert items[0].messages[0].body == "first line\nsecond line\n\nfourth"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("T-9,body,2026-03-01,extra\n", "the row has 4 cells but the header has 3 columns"),
        ("T-9,body\n", "the row has 2 cells but the header has 3 columns"),
        ("T-9,,2026-03-01\n", "body is required"),
        ("T-9,body,31/12/2026\n", "created_at '31/12/2026' is not a date"),
    ],
)
def test_a_bad_csv_row_is_rejected_with_its_line_and_reason(tmp_path, row: str, reason: str) -> None:
    items = read(tmp_path, "external_id,body,created_at\nT-1,ok,2026-03-01\n" + row + "T-2,ok,2026-03-01\n")

    assert summary(items) == [("ok", "T-1"), ("rejected", 3), ("ok", "T-2")]
    assert items[1] == Rejection(3, "T-9", items[1].reason)  # type: ignore[union-attr]
    assert reason in items[1].reason  # type: ignore[union-attr]


def test_blank_lines_bom_crlf_and_unknown_columns_are_harmless(tmp_path) -> None:
    content = "\ufeffExternal ID,Body,created_at,Notes\r\n\r\nT-1,hi,2026-03-01,x\r\n,,,\r\n\r\nT-2,yo,2026-03-02,y\r\n"

    assert summary(read(tmp_path, content.encode("utf-8"))) == [("ok", "T-1"), ("ok", "T-2")]


def test_a_semicolon_separated_export_is_read(tmp_path) -> None:
    content = "external_id;body;created_at\nT-1;hi, there;2026-03-01\n"

    [record] = read(tmp_path, content)

    assert record.messages[0].body == "hi, there"  # type: ignore[union-attr]


def test_undecodable_bytes_reject_only_their_row(tmp_path) -> None:
    content = b"external_id,body,created_at\nT-1,ok,2026-03-01\nT-2,caf\xe9,2026-03-01\nT-3,ok,2026-03-01\n"

    items = read(tmp_path, content)

    assert summary(items) == [("ok", "T-1"), ("rejected", 3), ("ok", "T-3")]
    assert "not valid UTF-8 (byte 0xe9" in items[1].reason  # type: ignore[union-attr]


def test_an_oversize_line_is_rejected_and_reading_goes_on(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(files, "MAX_LINE_BYTES", 100)
    content = "external_id,body,created_at\nT-1," + "x" * 500 + ",2026-03-01\nT-2,ok,2026-03-01\n"

    items = read(tmp_path, content)

    assert summary(items) == [("rejected", 2), ("ok", "T-2")]
    assert "longer than" in items[0].reason  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("subject,body\nhi,there\n", "has no external_id, created_at column"),
        ("external_id,created_at\nT-1,2026-03-01\n", "has no body (or messages) column"),
        ("external_id,body,body,created_at\n", "names body more than once"),
        ("\n\n", "the file is empty"),
        ("external_id,body,created_at\n".encode("utf-16"), "UTF-16"),
    ],
)
def test_a_file_level_problem_is_one_clear_error(tmp_path, content: str | bytes, message: str) -> None:
    with pytest.raises(FileFormatError, match=re.escape(message)):
        read(tmp_path, content)


def test_json_lines_reports_each_bad_line(tmp_path) -> None:
    good = {"external_id": "J-1", "body": "hi", "created_at": "2026-03-01T09:30:00Z", "tags": ["a"]}
    content = "\n".join(
        [json.dumps(good), "", "[1, 2]", "{not json", json.dumps({"external_id": "J-2", "created_at": "x"})]
    )

    items = read(tmp_path, content, "tickets.jsonl")

    assert summary(items) == [("ok", "J-1"), ("rejected", 3), ("rejected", 4), ("rejected", 5)]
    reasons = [item.reason for item in items[1:]]  # type: ignore[union-attr]
    assert "got an array" in reasons[0] and "not valid JSON" in reasons[1]
    assert items[3].external_id == "J-2"  # type: ignore[union-attr]


def test_a_json_array_is_streamed_with_line_numbers(tmp_path) -> None:
    content = (
        '[\n  {"external_id": "A-1", "body": "hi", "created_at": 1767225600},\n'  # line 2
        '  "oops",\n'  # line 3
        '  {"external_id": "A-2",\n   "body": "yo", "created_at": "2026-03-01"}\n]\n'  # lines 4-5
    )

    assert summary(read(tmp_path, content, "export.json")) == [("ok", "A-1"), ("rejected", 3), ("ok", "A-2")]


def test_a_broken_json_array_stops_after_the_elements_before_it(tmp_path) -> None:
    content = '[{"external_id": "A-1", "body": "hi", "created_at": "2026-03-01"},\n {"external_id": "A-2" "body"}]'
    seen: list[Any] = []

    with pytest.raises(FileFormatError, match="line 2"):
        seen.extend(TicketFile(write(tmp_path, content, "export.json")))

    assert summary(seen) == [("ok", "A-1")]


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("a.csv", "{", "csv"),
        ("a.ndjson", "[", "jsonl"),
        ("a.json", '{"a": 1}\n', "jsonl"),
        ("a.json", "\ufeff  [", "json"),
        ("upload", "external_id,body", "csv"),
        ("upload", '{"external_id": 1}', "jsonl"),
    ],
)
def test_the_format_comes_from_the_name_or_the_first_bytes(name: str, content: str, expected: str) -> None:
    assert files.detect_format(name, content.encode()) == expected


def test_progress_counts_bytes_up_to_the_file_size(tmp_path) -> None:
    ticket_file = TicketFile(write(tmp_path, GOOD_CSV))
    assert (ticket_file.bytes_read, ticket_file.total_bytes) == (0, len(GOOD_CSV))

    list(ticket_file)

    assert ticket_file.bytes_read == ticket_file.total_bytes


# The service ------------------------------------------------------------------------------------

def run_file(source: Source, path: Path, **kwargs: Any) -> SyncRun:
    sync_run = file_import_create(source=source, path=path, file_name=path.name, trigger=SyncTrigger.COMMAND)
    return file_import_run(sync_run_id=sync_run.pk, **kwargs)


@pytest.mark.django_db
def test_good_rows_are_kept_and_bad_rows_reported_by_line(source, tmp_path) -> None:
    sync_run = run_file(source, write(tmp_path, MIXED_CSV))

    assert sync_run.status == SyncRunStatus.PARTIAL
    assert (sync_run.created, sync_run.rejected, sync_run.fetched) == (2, 2, 4)
    assert sync_run.errors == [
        {"line": 3, "external_id": "T-2", "reason": sync_run.errors[0]["reason"]},
        {"line": 5, "external_id": "T-4", "reason": "csat 9 is outside 1-5"},
    ]
    assert set(Ticket.objects.values_list("external_id", flat=True)) == {"T-1", "T-3"}
    assert sync_run.progress_done == sync_run.progress_total == len(MIXED_CSV)


@pytest.mark.django_db
def test_importing_the_same_file_again_changes_nothing(source, tmp_path) -> None:
    path = write(tmp_path, GOOD_CSV)
    first = run_file(source, path)
    snapshot = list(Ticket.objects.values()), list(Message.objects.values())

    second = run_file(source, path)

    assert (first.created, first.updated, first.unchanged) == (2, 0, 0)
    assert (second.created, second.updated, second.unchanged, second.status) == (0, 0, 2, SyncRunStatus.SUCCEEDED)
    assert (list(Ticket.objects.values()), list(Message.objects.values())) == snapshot


@pytest.mark.django_db
def test_progress_is_saved_between_batches(source, tmp_path) -> None:
    rows = "".join(f"T-{n},body,2026-03-01\n" for n in range(7))
    path = write(tmp_path, "external_id,body,created_at\n" + rows)
    seen: list[tuple[int, int]] = []

    def on_progress(sync_run: SyncRun) -> None:
        stored = SyncRun.objects.get(pk=sync_run.pk)
        seen.append((stored.progress_done, stored.created))

    run_file(source, path, batch_size=3, on_progress=on_progress)

    assert [created for _, created in seen] == [3, 6, 7]
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
    assert IngestBatch.objects.count() == 3


@pytest.mark.django_db
def test_a_file_level_error_fails_the_run_with_the_reason(source, tmp_path) -> None:
    sync_run = run_file(source, write(tmp_path, "id,text\n1,hello\n"))

    assert sync_run.status == SyncRunStatus.FAILED
    assert "has no external_id, created_at, body (or messages) column" in sync_run.failure
    assert not Ticket.objects.exists()


@pytest.mark.django_db
def test_a_finished_run_is_not_redone(source, tmp_path) -> None:
    path = write(tmp_path, GOOD_CSV)
    sync_run = run_file(source, path)
    Ticket.objects.all().delete()

    again = file_import_run(sync_run_id=sync_run.pk)

    assert again.status == SyncRunStatus.SUCCEEDED and again.finished_at == sync_run.finished_at
    assert not Ticket.objects.exists()


@pytest.mark.django_db
def test_only_the_first_rejections_are_kept_but_all_are_counted(source, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(SyncRun, "MAX_REPORTED_ERRORS", 3)
    rows = "".join(f"T-{n},body,not a date\n" for n in range(5))

    sync_run = run_file(source, write(tmp_path, "external_id,body,created_at\n" + rows), batch_size=2)

    assert (sync_run.rejected, len(sync_run.errors)) == (5, 3)
    assert [error["line"] for error in sync_run.errors] == [2, 3, 4]


@pytest.mark.django_db
def test_an_upload_is_stored_under_a_generated_name_imported_on_commit_and_then_deleted(
    source, settings, tmp_path, django_capture_on_commit_callbacks
) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    upload = SimpleUploadedFile("../../etc/passwd.csv", GOOD_CSV.encode(), "text/csv")

    with django_capture_on_commit_callbacks(execute=True):
        sync_run = file_import_upload(source=source, upload=upload, trigger=SyncTrigger.UPLOAD)
        stored = Path(sync_run.file_path)
        assert stored.parent == (tmp_path / "media" / "imports").resolve() and stored.suffix == ".csv"
        assert stored.read_text() == GOOD_CSV
        assert SyncRun.objects.get(pk=sync_run.pk).status == SyncRunStatus.QUEUED  # not before the commit

    sync_run.refresh_from_db()
    assert sync_run.status == SyncRunStatus.SUCCEEDED and sync_run.created == 2
    assert sync_run.file_name == "passwd.csv"
    assert not stored.exists()


@pytest.mark.django_db
def test_a_disabled_source_takes_no_file(source, tmp_path) -> None:
    source.enabled = False
    source.save()

    with pytest.raises(SourceDisabled):
        run_file(source, write(tmp_path, GOOD_CSV))


# The command ------------------------------------------------------------------------------------


def call(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("import_tickets", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.mark.django_db
def test_the_command_prints_counts_and_every_rejected_row(tmp_path) -> None:
    path = write(tmp_path, MIXED_CSV)

    out, err = call(str(path), "--source", "Legacy desk")

    assert "created 2, updated 0, unchanged 0, rejected 2" in out
    assert "line 3: created_at 'yesterday' is not a date" in out
    assert "line 5: csat 9 is outside 1-5" in out
    assert "100% of" in err and "records/s" in err
    assert Source.objects.get(name="Legacy desk").kind == SourceKind.UPLOAD
    assert path.exists()

    out, _ = call(str(path), "--source", "Legacy desk", "--batch-size", "1")
    assert "created 0, updated 0, unchanged 2, rejected 2" in out


@pytest.mark.django_db
def test_the_command_caps_the_printed_rejections(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(import_tickets, "MAX_PRINTED_REJECTIONS", 2)
    rows = "".join(f"T-{n},body,not a date\n" for n in range(5))

    out, _ = call(str(write(tmp_path, "external_id,body,created_at\n" + rows)), "--source", "s")

    assert out.count("is not a date") == 2
    assert "... and 3 more rejected rows" in out


@pytest.mark.django_db
def test_the_command_fails_on_a_file_level_error(tmp_path) -> None:
    with pytest.raises(CommandError, match="has no external_id"):
        call(str(write(tmp_path, "id,text\n1,hello\n")), "--source", "s")
    with pytest.raises(CommandError, match="is not a file"):
        call(str(tmp_path / "missing.csv"), "--source", "s")
