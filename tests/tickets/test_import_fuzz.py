"""Hostile ticket files, API bodies and exports: every bad record is refused by line with a reason,
the good ones around it are kept, nothing crashes, and no cell of a CSV export runs as a formula.

Hand-written cases for the attacks we know (encodings, NUL bytes, huge fields, JSON bombs, formula
cells) and Hypothesis for the ones we did not think of, on the reader and on the record validator.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from insights.models import Theme, ThemeStatus, TicketTheme
from roadmap.models import BacklogItem
from roadmap.services import theme_link_create
from tickets.connectors.files import FileFormatError, Rejection, TicketFile
from tickets.exports import spreadsheet_safe
from tickets.models import Message, Source, SyncRun, SyncRunStatus, SyncTrigger, Ticket
from tickets.records import InvalidRecord, TicketRecord, ticket_record_from_dict
from tickets.services import file_import_create, file_import_run

HEADER = b"external_id,subject,body,created_at,requester_name,organization,tags\n"
WHEN = "2026-03-01T09:30:00Z"
FORMULAS = ["=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1:A2)", "\t=1+1", "\r=1+1", "=HYPERLINK(\"http://x\")"]
FUZZ = settings(max_examples=60, derandomize=True, database=None, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def good_row(external_id: str) -> bytes:
    return f"{external_id},Subject,Card declined,{WHEN},Mia,Acme,billing\n".encode()


def jsonl(external_id: str, **fields: Any) -> bytes:
    return json.dumps({"external_id": external_id, "body": "Card declined", "created_at": WHEN, **fields}).encode()


def run_import(source: Source, tmp_path: Path, content: bytes, name: str = "tickets.csv") -> SyncRun:
    path = tmp_path / name
    path.write_bytes(content)
    sync_run = file_import_create(source=source, path=path, file_name=name, trigger=SyncTrigger.COMMAND)
    return file_import_run(sync_run_id=sync_run.pk)


def outcome(sync_run: SyncRun) -> tuple[list[str], list[int]]:
    """The external ids stored in the run's source, and the lines the run rejected."""
    stored = sorted(Ticket.objects.filter(source=sync_run.source).values_list("external_id", flat=True))
    return stored, [error["line"] for error in sync_run.errors]


# --- encodings and bytes -------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("bad_line", "reason"),
    [
        (b"T-2,Subject,caf\xe9 cr\xe8me,2026-03-01,Mia,Acme,\n", "not valid UTF-8 (byte 0xe9"),  # Latin-1
        (b"T-2,Subject,\xff\xfe\x00b\x00,2026-03-01,Mia,Acme,\n", "not valid UTF-8 (byte 0xff"),
        (b"T-2,Subject,\xc3,2026-03-01,Mia,Acme,\n", "not valid UTF-8"),  # a character cut in half
        (b"T-2,Subject,body,yesterday,Mia,Acme,\n", "created_at 'yesterday' is not a date"),
        (b"T-2,Subject,body,2026-03-01,Mia\n", "the row has 5 cells but the header has 7 columns"),
    ],
    ids=["latin-1", "utf-16-bytes", "truncated-utf-8", "bad-date", "short-row"],
)
def test_a_bad_row_is_rejected_by_line_and_its_neighbours_kept(
    source: Source, tmp_path: Path, bad_line: bytes, reason: str
) -> None:
    sync_run = run_import(source, tmp_path, HEADER + good_row("T-1") + bad_line + good_row("T-3"))

    assert outcome(sync_run) == (["T-1", "T-3"], [3])
    assert reason in sync_run.errors[0]["reason"]
    assert sync_run.status == SyncRunStatus.PARTIAL


@pytest.mark.django_db
def test_nul_bytes_are_dropped_from_the_text_they_sit_in(source: Source, tmp_path: Path) -> None:
    content = HEADER + b"T-\x001,Sub\x00ject,Card\x00 declined,2026-03-01,Mia,Acme,\n" + good_row("T-2")

    sync_run = run_import(source, tmp_path, content)

    assert outcome(sync_run) == (["T-1", "T-2"], [])
    assert Ticket.objects.get(external_id="T-1").subject == "Subject"
    assert Message.objects.get(ticket__external_id="T-1").body == "Card declined"


@pytest.mark.django_db
def test_mixed_line_endings_keep_the_line_numbers_true(source: Source, tmp_path: Path) -> None:
    content = (
        b"\xef\xbb\xbf" + HEADER.replace(b"\n", b"\r\n") + good_row("T-1").replace(b"\n", b"\r\n")
        + b"T-2,Subject,body,never,Mia,Acme,\n" + good_row("T-3") + b"T-4,Sub\rject,body,2026-03-01,Mia,Acme,\r\n"
    )

    sync_run = run_import(source, tmp_path, content)

    # A CR alone ends a row in old Mac files only; inside an unquoted cell it is refused, not guessed at.
    assert outcome(sync_run) == (["T-1", "T-3"], [3, 5])
    assert "not a date" in sync_run.errors[0]["reason"]
    assert "cannot be read as CSV: new-line character seen in unquoted field" in sync_run.errors[1]["reason"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty"),
        (b"\xef\xbb\xbf \n\n", "the file is empty"),
        ("external_id,body,created_at\nT-1,hi,2026-03-01\n".encode("utf-16"), "UTF-16"),
        ("external_id,body,created_at\nT-1,hi,2026-03-01\n".encode("utf-16-be"), "has no external_id"),
    ],
    ids=["empty", "bom-and-blanks", "utf-16-bom", "utf-16-no-bom"],
)
def test_a_file_that_cannot_be_read_fails_its_run_with_the_reason(
    source: Source, tmp_path: Path, content: bytes, message: str
) -> None:
    sync_run = run_import(source, tmp_path, content)

    assert sync_run.status == SyncRunStatus.FAILED
    assert message in sync_run.failure
    assert not Ticket.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("header", [HEADER, b"\xef\xbb\xbf" + HEADER, HEADER.rstrip(b"\n")])
def test_a_file_with_only_its_header_imports_nothing_and_succeeds(source: Source, tmp_path: Path, header: bytes) -> None:
    sync_run = run_import(source, tmp_path, header)

    assert (sync_run.status, sync_run.fetched, sync_run.rejected) == (SyncRunStatus.SUCCEEDED, 0, 0)


# --- huge fields -------------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["tickets.csv", "tickets.jsonl"])
def test_a_50_mb_field_is_rejected_without_stopping_the_file(source: Source, tmp_path: Path, name: str) -> None:
    huge = "x" * (50 * 2**20)
    if name.endswith(".csv"):
        content = HEADER + good_row("T-1") + f"T-2,Subject,{huge},{WHEN},Mia,Acme,\n".encode() + good_row("T-3")
    else:
        content = b"\n".join([jsonl("T-1"), jsonl("T-2", body=huge), jsonl("T-3"), b""])
    del huge

    sync_run = run_import(source, tmp_path, content, name)

    assert outcome(sync_run) == (["T-1", "T-3"], [2] if name.endswith(".jsonl") else [3])
    assert "longer than 16 MB" in sync_run.errors[0]["reason"]


@pytest.mark.django_db
def test_a_field_past_the_csv_modules_default_limit_is_read_and_judged_by_ours(
    source: Source, tmp_path: Path
) -> None:
    too_long = "y" * (128 * 1024 + 1)  # past Python's default field_size_limit; a body may hold 100,000 chars
    content = HEADER + f'T-1,Subject,"{too_long}",{WHEN},Mia,Acme,\n'.encode() + good_row("T-2")

    sync_run = run_import(source, tmp_path, content)

    assert outcome(sync_run) == (["T-2"], [2])
    assert "body is 131,073 characters long; the limit is 100,000" in sync_run.errors[0]["reason"]


# --- JSON bombs and odd JSON ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_json_lines_bombs_and_odd_values_are_rejected_by_line(source: Source, tmp_path: Path) -> None:
    lines = [
        jsonl("T-1"),
        b"[" * 100_000 + b"]" * 100_000,  # RecursionError in json
        b'{"a": ' * 100_000 + b"1" + b"}" * 100_000,
        jsonl("T-4", created_at=1e308 * 10),  # json.dumps writes Infinity
        b'{"external_id": "T-5", "body": "x", "created_at": 1e999999}',
        b'{"external_id": "T-6", "body": "x", "created_at": "' + WHEN.encode() + b'", "csat": 1' + b"0" * 5000 + b"}",
        jsonl("T-7", csat="five"),
        jsonl("T-8", tags={"a": 1}),
        jsonl("T-9", messages={"body": "not a list"}),
        jsonl("T-10", messages=json.dumps([[[[]]]])),
        b'{"external_id": {"nested": true}, "body": "x", "created_at": 1767225600}',
        jsonl("T-12", created_at=[]),
        jsonl("T-13", subject=["a", "list"]),
        b'{"external_id": "T-14", "external_id": "T-15", "body": "duplicate keys: the last wins", "created_at": 1767225600}',
        b"null",
        jsonl("T-16", messages="[" * 100_000),
        jsonl("T-17"),
    ]

    sync_run = run_import(source, tmp_path, b"\n".join(lines) + b"\n", "tickets.jsonl")

    assert outcome(sync_run) == (["T-1", "T-15", "T-17"], [*range(2, 14), 15, 16])
    reasons = {error["line"]: error["reason"] for error in sync_run.errors}
    assert reasons[2] == reasons[3] == "not valid JSON: nested too deeply"
    assert "not a date" in reasons[4] and "not a date" in reasons[5]
    assert "not valid JSON" in reasons[6]  # over Python's 4,300-digit limit for integers
    assert reasons[16] == "messages is JSON nested too deeply (expected an array of objects)"


@pytest.mark.django_db
def test_a_json_array_bomb_fails_the_file_after_the_elements_before_it(source: Source, tmp_path: Path) -> None:
    content = b"[" + jsonl("T-1") + b",\n" + b"[" * 100_000 + b"]" * 100_000 + b"]"

    sync_run = run_import(source, tmp_path, content, "tickets.json")

    assert sync_run.status == SyncRunStatus.FAILED and "nested too deeply" in sync_run.failure
    assert outcome(sync_run)[0] == ["T-1"]


@pytest.mark.django_db
def test_a_csv_messages_cell_nested_too_deeply_rejects_its_row(source: Source, tmp_path: Path) -> None:
    bomb = "[" * 100_000 + "]" * 100_000
    content = b"external_id,messages,created_at\n" + f'T-1,"{bomb}",{WHEN}\n'.encode() + b'T-2,"[{""body"": ""hi""}]",2026-03-01\n'

    sync_run = run_import(source, tmp_path, content)

    assert outcome(sync_run) == (["T-2"], [2])
    assert "nested too deeply" in sync_run.errors[0]["reason"]


@pytest.mark.django_db
def test_importing_a_hostile_file_again_changes_nothing(source: Source, tmp_path: Path) -> None:
    content = (
        HEADER + good_row("T-1") + b"T-2,Subject,caf\xe9,2026-03-01,Mia,Acme,\n"
        + "T-3,=cmd|' /C calc'!A0,\ud800,2026-03-01,@Mia,-Acme,+tag\n".encode("utf-8", "surrogatepass")
    )
    first = run_import(source, tmp_path, content)
    snapshot = list(Ticket.objects.values()), list(Message.objects.values())

    second = run_import(source, tmp_path, content)

    assert (first.created, first.rejected) == (1, 2)  # the surrogate's bytes are not UTF-8 either
    assert (second.created, second.updated, second.unchanged, second.rejected) == (0, 0, 1, 2)
    assert (list(Ticket.objects.values()), list(Message.objects.values())) == snapshot


# --- Hypothesis --------------------------------------------------------------------------------------------


@FUZZ
@given(content=st.binary(max_size=400), name=st.sampled_from(["t.csv", "t.jsonl", "t.json", "t.txt"]))
def test_the_reader_yields_items_or_one_file_error_for_any_bytes(tmp_path: Path, content: bytes, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(HEADER + content if name == "t.csv" else content)
    try:
        items = list(TicketFile(path))
    except FileFormatError as exc:
        error = str(exc)
        assert error
        return
    for item in items:
        assert isinstance(item, TicketRecord) or (isinstance(item, Rejection) and item.line >= 1 and item.reason)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=10,
)
mappings = st.fixed_dictionaries(
    {},
    optional={
        name: json_values | st.text(max_size=40)
        for name in ("external_id", "body", "created_at", "subject", "requester_email", "requester_name",
                     "organization", "arr", "channel", "status", "tags", "csat", "url", "reopen_count", "messages")
    },
)


@FUZZ
@given(data=mappings)
def test_the_validator_returns_a_storable_record_or_says_what_is_wrong(data: dict[str, Any]) -> None:
    try:
        record = ticket_record_from_dict(data)
    except InvalidRecord as exc:
        reason = str(exc)
        assert reason
        return
    texts = [record.external_id, record.subject, record.url, *record.tags, *(m.body for m in record.messages)]
    for text in texts:
        assert "\x00" not in text
        text.encode("utf-8")  # no unpaired surrogate: every database can store it


@pytest.mark.django_db
@settings(max_examples=25, derandomize=True, database=None, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(st.text(max_size=20), st.text(max_size=40), st.text(max_size=10)), max_size=6))
def test_any_csv_text_is_imported_or_rejected_and_never_crashes_the_run(
    source: Source, tmp_path: Path, rows: list[tuple[str, str, str]]
) -> None:
    buffer = io.StringIO()
    csv.writer(buffer).writerows([("external_id", "body", "created_at"), *rows])
    content = buffer.getvalue().encode("utf-8", "surrogatepass")

    sync_run = run_import(source, tmp_path, content)

    if sync_run.status == SyncRunStatus.FAILED:
        assert "The file cannot be imported" in sync_run.failure
    else:
        assert sync_run.fetched == sync_run.created + sync_run.updated + sync_run.unchanged + sync_run.rejected


# --- the bulk API ------------------------------------------------------------------------------------------

BULK = "/api/tickets/bulk/"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [b"[" * 100_000 + b"]" * 100_000, b'{"source": "api", "tickets": [' + b"[" * 100_000 + b"]" * 100_000 + b"]}"],
    ids=["bare", "inside-tickets"],
)
def test_the_bulk_api_answers_a_json_bomb_with_400(admin_user: Any, client_for: Any, body: bytes) -> None:
    response = client_for(admin_user).post(BULK, data=body, content_type="application/json")

    assert response.status_code == 400
    assert "nested too deeply" in response.json()["detail"]


@pytest.mark.django_db
def test_the_bulk_api_refuses_a_body_over_the_limit_before_reading_it(
    admin_user: Any, client_for: Any, settings: Any
) -> None:
    settings.THREADLINE_API_MAX_BODY_BYTES = 1000
    body = json.dumps({"source": "api", "tickets": [{"external_id": "T-1", "body": "x" * 2000}]})

    response = client_for(admin_user).post(BULK, data=body, content_type="application/json")

    assert response.status_code == 413 and "the limit is 1,000" in response.json()["detail"]
    assert not Ticket.objects.exists()


@pytest.mark.django_db
def test_the_bulk_api_rejects_hostile_items_by_index_and_stores_the_rest_safely(
    admin_user: Any, client_for: Any
) -> None:
    body = (
        '{"source": "api", "tickets": ['
        '{"external_id": "A", "body": "x", "created_at": 1e999999},'
        '{"external_id": "B\\u0000", "body": "x", "created_at": "' + WHEN + '", "csat": 1' + "0" * 400 + "},"
        '{"external_id": "C\\ud800", "body": "NUL\\u0000 and a lone \\udfff", "created_at": "' + WHEN + '"},'
        '"not an object"'
        "]}"
    )

    response = client_for(admin_user).post(BULK, data=body, content_type="application/json")

    assert response.status_code == 207, response.content
    assert [(r["index"], r["external_id"]) for r in response.json()["rejected"]] == [(0, "A"), (1, "B"), (3, None)]
    stored = Ticket.objects.get()
    assert (stored.external_id, stored.messages.get().body) == ("C\ufffd", "NUL and a lone \ufffd")
    again = client_for(admin_user).post(BULK, data=body, content_type="application/json").json()
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 1)


# --- formulas are stored as text and exported inert ----------------------------------------------------------


def _cells(response: Any) -> list[list[str]]:
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


def _assert_no_formula(rows: list[list[str]]) -> None:
    for row in rows:
        for cell in row:
            is_number = cell.lstrip("-").replace(".", "", 1).isdigit()
            assert is_number or not cell.startswith(("=", "+", "-", "@", "\t", "\r")), row


@pytest.mark.parametrize("formula", FORMULAS)
def test_spreadsheet_safe_makes_every_formula_prefix_text(formula: str) -> None:
    assert spreadsheet_safe(formula) == "'" + formula


@pytest.mark.django_db
def test_formula_cells_are_stored_as_text_and_every_export_escapes_them(
    source: Source, tmp_path: Path, admin_user: Any, client_for: Any
) -> None:
    rows = [
        f'F-{n},"{formula}","{formula} body",{WHEN},"{formula}","{formula} org","{formula}"\n'.encode()
        for n, formula in enumerate(FORMULAS)
    ]
    bad = b'"=1+1",Subject,body,"=NOW()",Mia,Acme,\n'
    sync_run = run_import(source, tmp_path, HEADER + b"".join(rows) + bad)
    assert sync_run.created == len(FORMULAS) and sync_run.rejected == 1, sync_run.errors
    stored = Ticket.objects.get(external_id="F-0")
    assert (stored.subject, stored.requester.name) == (FORMULAS[0], FORMULAS[0])
    assert "=cmd" in stored.tags

    theme = Theme.objects.create(name="=HYPERLINK(\"http://evil\")", status=ThemeStatus.ACTIVE)
    for ticket in Ticket.objects.all():
        TicketTheme.objects.create(ticket=ticket, theme=theme, confidence=0.9, method="manual")
    item = BacklogItem.objects.create(title="Formulas", status="planned")
    theme_link_create(item=item, theme=theme, user=admin_user)
    client: Client = client_for(admin_user)

    exports = {
        "themes": client.get("/themes/", {"format": "csv", "period": "custom", "start": "2026-02-01",
                                          "end": "2026-03-31"}),
        "affected customers": client.get(f"/roadmap/items/{item.pk}/", {"export": "customers", "period": "custom",
                                                                       "start": "2026-02-01", "end": "2026-03-31"}),
        "affected tickets": client.get(f"/roadmap/items/{item.pk}/", {"export": "tickets", "period": "custom",
                                                                     "start": "2026-02-01", "end": "2026-03-31"}),
        "import errors": client.get(f"/imports/{sync_run.pk}/errors.csv"),
    }
    for name, response in exports.items():
        cells = _cells(response)
        assert len(cells) > 1, name
        _assert_no_formula(cells)
    assert _cells(exports["import errors"])[1][1] == "'=1+1"
