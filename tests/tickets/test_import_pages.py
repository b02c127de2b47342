"""File import through HTTP: the upload page, the run page and its htmx partial, the error CSV, and
``/api/imports/``. Tasks run inline (no broker), once the upload's transaction commits."""

from __future__ import annotations

import csv
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from tickets.models import Source, SyncRun, SyncRunStatus, SyncTrigger, Ticket
from tickets.services import file_import_create

pytestmark = pytest.mark.django_db

UPLOAD = reverse("import_upload")
CSV_TEXT = (
    "external_id,subject,body,created_at\n"
    "T-1,Card declined,My card is declined,2026-03-01T09:30:00Z\n"
    "T-2,Bad date,body,yesterday\n"
    "=HYPERLINK(1),Formula,body,nope\n"
    "T-3,Export,Export stops,2026-03-02\n"
)


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


def csv_file(text: str = CSV_TEXT, name: str = "export.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode(), "text/csv")


def upload(client: Any, capture: Any, **data: Any) -> Any:
    with capture(execute=True):
        return client.post(UPLOAD, {"source": "", "new_source": "", "file": csv_file(), **data})


# The upload page --------------------------------------------------------------------------------


def test_only_admins_may_open_the_upload_page(
    client_for, admin_user, support_lead, product_manager, viewer, outsider
) -> None:
    assert client_for(admin_user).get(UPLOAD).status_code == 200
    for user in (support_lead, product_manager, viewer, outsider):
        assert client_for(user).get(UPLOAD).status_code == 403, user.email
        assert client_for(user).post(UPLOAD, {"new_source": "x", "file": csv_file()}).status_code == 403
    anonymous = client_for(None).get(UPLOAD)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith(reverse("login"))


def test_the_upload_page_says_what_to_do_when_nothing_was_imported(client_for, admin_user) -> None:
    page = client_for(admin_user).get(UPLOAD).content.decode()

    assert "No imports yet" in page and "external_id" in page and 'enctype="multipart/form-data"' in page


def test_uploading_into_a_new_source_imports_the_file_and_shows_the_run(
    client_for, admin_user, django_capture_on_commit_callbacks
) -> None:
    client = client_for(admin_user)

    response = upload(client, django_capture_on_commit_callbacks, new_source="Legacy desk")

    sync_run = SyncRun.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("import_run", args=[sync_run.pk])
    assert (sync_run.source.name, sync_run.started_by) == ("Legacy desk", admin_user)
    assert sync_run.trigger == SyncTrigger.UPLOAD
    assert (sync_run.status, sync_run.created, sync_run.rejected) == (SyncRunStatus.PARTIAL, 2, 2)
    page = client.get(response["Location"]).content.decode()
    assert "export.csv" in page and "pill-partial" in page
    assert "created_at &#x27;yesterday&#x27; is not a date" in page
    assert "hx-trigger" not in page  # finished: nothing to poll
    listing = client.get(UPLOAD).content.decode()
    assert "export.csv" in listing and "Legacy desk" in listing


def test_uploading_into_an_existing_source(client_for, admin_user, source, django_capture_on_commit_callbacks) -> None:
    upload(client_for(admin_user), django_capture_on_commit_callbacks, source=str(source.pk))

    assert set(Ticket.objects.filter(source=source).values_list("external_id", flat=True)) == {"T-1", "T-3"}
    assert Source.objects.count() == 1


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "Choose a source, or type a name for a new one."),
        ({"new_source": "x", "file": csv_file(name="export.xlsx")}, "Choose a .csv, .jsonl, .ndjson or .json file."),
        ({"new_source": "x", "file": csv_file(text="")}, "The submitted file is empty."),
    ],
)
def test_a_bad_upload_is_explained_on_the_form(client_for, admin_user, data: dict[str, Any], message: str) -> None:
    response = client_for(admin_user).post(UPLOAD, {"source": "", "new_source": "", "file": csv_file(), **data})

    assert response.status_code == 200
    assert message in response.content.decode()
    assert not SyncRun.objects.exists()


def test_a_file_over_the_size_limit_is_refused(client_for, admin_user, settings) -> None:
    settings.THREADLINE_MAX_UPLOAD_BYTES = 50

    response = client_for(admin_user).post(UPLOAD, {"new_source": "x", "file": csv_file()})

    assert "the limit is 50\xa0bytes" in response.content.decode()
    assert not SyncRun.objects.exists() and not (Path(settings.MEDIA_ROOT) / "imports").exists()


def test_the_upload_page_lists_runs_in_constant_queries(
    client_for, admin_user, source, django_assert_max_num_queries
) -> None:
    client = client_for(admin_user)
    for n in range(5):
        file_import_create(source=source, path=f"/tmp/{n}.csv", file_name=f"{n}.csv", trigger=SyncTrigger.COMMAND)
    client.get(UPLOAD)  # warm the session and permission caches

    with django_assert_max_num_queries(8):
        assert client.get(UPLOAD).status_code == 200


# The run page -----------------------------------------------------------------------------------


def test_a_running_import_is_polled_through_its_partial(client_for, admin_user, source) -> None:
    sync_run = file_import_create(source=source, path="/tmp/x.csv", file_name="x.csv", trigger=SyncTrigger.UPLOAD)
    SyncRun.objects.filter(pk=sync_run.pk).update(
        status=SyncRunStatus.RUNNING, progress_done=250, progress_total=1000, created=3,
        rejected=1, errors=[{"line": 7, "external_id": "T-7", "reason": "csat 9 is outside 1-5"}],
    )
    client = client_for(admin_user)
    url = reverse("import_run", args=[sync_run.pk])

    page = client.get(url).content.decode()
    partial = client.get(url, HTTP_HX_REQUEST="true").content.decode()

    assert "<html" in page and "<html" not in partial
    assert f'hx-get="{url}"' in partial and 'hx-trigger="every 1s"' in partial
    assert 'style="width: 25%"' in partial and "csat 9 is outside 1-5" in partial

    SyncRun.objects.filter(pk=sync_run.pk).update(status=SyncRunStatus.PARTIAL)
    assert "hx-trigger" not in client.get(url, HTTP_HX_REQUEST="true").content.decode()


def test_a_failed_import_shows_why(client_for, admin_user, django_capture_on_commit_callbacks) -> None:
    client = client_for(admin_user)

    response = upload(client, django_capture_on_commit_callbacks, new_source="x", file=csv_file("id,text\n1,a\n"))

    page = client.get(response["Location"]).content.decode()
    assert "pill-failed" in page and "has no external_id, created_at, body (or messages) column" in page


def test_the_run_page_is_for_admins_only(client_for, support_lead, source) -> None:
    sync_run = file_import_create(source=source, path="/tmp/x.csv", file_name="x.csv", trigger=SyncTrigger.UPLOAD)

    assert client_for(support_lead).get(reverse("import_run", args=[sync_run.pk])).status_code == 403
    assert client_for(support_lead).get(reverse("import_errors_csv", args=[sync_run.pk])).status_code == 403


def test_the_error_report_downloads_as_csv_without_formulas(
    client_for, admin_user, django_capture_on_commit_callbacks
) -> None:
    client = client_for(admin_user)
    upload(client, django_capture_on_commit_callbacks, new_source="x")
    sync_run = SyncRun.objects.get()

    response = client.get(reverse("import_errors_csv", args=[sync_run.pk]))

    assert response["Content-Type"].startswith("text/csv") and "attachment" in response["Content-Disposition"]
    rows = list(csv.reader(StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == ["line", "external_id", "reason"]
    assert rows[1][:2] == ["3", "T-2"]
    assert rows[2][:2] == ["4", "'=HYPERLINK(1)"]


# The API ----------------------------------------------------------------------------------------

API = "/api/imports/"


def test_the_api_queues_an_import_and_reports_its_progress(
    client_for, admin_user, django_capture_on_commit_callbacks
) -> None:
    client = client_for(admin_user)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(API, {"source": "API desk", "file": csv_file()})

    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "queued" and body["url"] == f"http://testserver{API}{body['id']}/"
    assert response["Location"] == body["url"]

    status = client.get(f"{API}{body['id']}/").json()
    assert status["status"] == "partial" and status["source"] == "API desk"
    assert status["counts"] == {"fetched": 4, "created": 2, "updated": 0, "unchanged": 0, "rejected": 2}
    assert status["progress"]["percent"] == 100
    assert status["errors"][0] == {"line": 3, "external_id": "T-2", "reason": status["errors"][0]["reason"]}
    assert SyncRun.objects.get().trigger == SyncTrigger.API


def test_the_api_refuses_other_roles_bad_files_and_big_files(
    client_for, admin_user, support_lead, settings
) -> None:
    assert client_for(None).post(API, {"source": "s", "file": csv_file()}).status_code in {401, 403}
    assert client_for(support_lead).post(API, {"source": "s", "file": csv_file()}).status_code == 403
    assert client_for(support_lead).get(f"{API}1/").status_code == 403
    admin = client_for(admin_user)
    assert admin.get(f"{API}999/").status_code == 404
    wrong_type = admin.post(API, {"source": "s", "file": csv_file(name="a.exe")})
    assert wrong_type.status_code == 400 and "file" in wrong_type.json()
    settings.THREADLINE_MAX_UPLOAD_BYTES = 50
    too_big = admin.post(API, {"source": "s", "file": csv_file()})
    assert too_big.status_code == 400 and "the limit is" in too_big.json()["file"][0]
    assert not SyncRun.objects.exists()


def test_the_schema_describes_the_upload_as_multipart(client_for, admin_user) -> None:
    schema = client_for(admin_user).get("/api/schema/", {"format": "json"}).json()

    body = schema["paths"]["/api/imports/"]["post"]["requestBody"]["content"]
    assert list(body) == ["multipart/form-data"]
    upload_schema = schema["components"]["schemas"]["ImportCreate"]
    assert upload_schema["properties"]["file"] == {**upload_schema["properties"]["file"], "format": "binary"}
    assert "202" in schema["paths"]["/api/imports/"]["post"]["responses"]
