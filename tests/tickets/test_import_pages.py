"""File import through HTTP: the upload page, the run page and its htmx partial, the error CSV, and
``/api/imports/``. Tasks run inline (no broker), once the upload's transaction commits."""

from __future__ import annotations

import csv
import re
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from tickets.forms import UPLOAD_FORM_OVERHEAD_BYTES
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
    assert too_big.status_code == 413 and "larger than that; the limit is 50" in too_big.json()["detail"]
    declared_too_big = admin.post(
        API, data=b"", content_type="multipart/form-data; boundary=x",
        CONTENT_LENGTH=str(50 + UPLOAD_FORM_OVERHEAD_BYTES + 1), **{"wsgi.input": UnreadableBody()},
    )
    assert declared_too_big.status_code == 413 and "request is too large" in declared_too_big.json()["detail"]
    assert not SyncRun.objects.exists()


def test_the_schema_describes_the_upload_as_multipart(client_for, admin_user) -> None:
    schema = client_for(admin_user).get("/api/schema/", {"format": "json"}).json()

    body = schema["paths"]["/api/imports/"]["post"]["requestBody"]["content"]
    assert list(body) == ["multipart/form-data"]
    upload_schema = schema["components"]["schemas"]["ImportCreate"]
    assert upload_schema["properties"]["file"] == {**upload_schema["properties"]["file"], "format": "binary"}
    assert "202" in schema["paths"]["/api/imports/"]["post"]["responses"]


# Upload limits and where uploads go -----------------------------------------------------------


class UnreadableBody:
    """A request body that fails the test if anything reads it."""

    def read(self, *args: Any) -> bytes:
        raise AssertionError("the body was read")

    readline = read


def test_a_declared_content_length_over_the_limit_is_413_before_the_body_is_read(
    client_for, admin_user, settings
) -> None:
    settings.THREADLINE_MAX_UPLOAD_BYTES = 1000
    declared = 1000 + UPLOAD_FORM_OVERHEAD_BYTES + 1

    response = client_for(admin_user).post(
        UPLOAD, data=b"", content_type="multipart/form-data; boundary=x",
        CONTENT_LENGTH=str(declared), **{"wsgi.input": UnreadableBody()},
    )

    assert response.status_code == 413
    assert "This request is too large; the limit is 1000\xa0bytes" in response.content.decode()
    assert not SyncRun.objects.exists()


def test_an_upload_that_grows_past_the_limit_is_cut_off_and_leaves_no_file(
    client_for, admin_user, settings, tmp_path
) -> None:
    settings.THREADLINE_MAX_UPLOAD_BYTES = 1000
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 0  # every upload goes to a temporary file first
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path / "incoming")
    (tmp_path / "incoming").mkdir()
    big = csv_file(CSV_TEXT + "T-9,x,y,2026-03-01\n" * 400)  # ~8 KB, declared within the form overhead

    response = client_for(admin_user).post(UPLOAD, {"new_source": "x", "file": big})

    assert response.status_code == 413
    assert "This file is larger than that; the limit is 1000\xa0bytes" in response.content.decode()
    assert not SyncRun.objects.exists() and not Source.objects.filter(name="x").exists()
    assert list((tmp_path / "incoming").iterdir()) == []
    assert not (Path(settings.MEDIA_ROOT) / "imports").exists()


class EndlessBody:
    """A streamed body with no end (chunked, no Content-Length) that counts what is read of it."""

    def __init__(self) -> None:
        self.read_bytes = 0

    def read(self, size: int = 65536, *args: Any) -> bytes:
        size = 65536 if size is None or size < 0 else size
        self.read_bytes += size
        return b"x" * size

    readline = read


def test_a_streamed_upload_without_content_length_is_not_read(
    client_for, admin_user, settings
) -> None:
    settings.THREADLINE_MAX_UPLOAD_BYTES = 1000
    body = EndlessBody()
    request = {"CONTENT_TYPE": "multipart/form-data; boundary=x", "wsgi.input": body, "HTTP_TRANSFER_ENCODING": "chunked"}

    response = client_for(admin_user).post(UPLOAD, data=b"", content_type="multipart/form-data; boundary=x", **request)
    # Under WSGI Django reads no body a request does not declare: the form finds no file. (A server
    # that streams such a body in, as ASGI does, meets UploadLimitHandler, tested above.)
    assert body.read_bytes == 0
    assert response.status_code == 200 and "This field is required." in response.content.decode()
    assert not SyncRun.objects.exists() and not (Path(settings.MEDIA_ROOT) / "imports").exists()


def test_the_csrf_check_still_guards_the_upload(client_for, admin_user) -> None:
    client = client_for(admin_user)
    client.handler.enforce_csrf_checks = True

    response = client.post(UPLOAD, {"new_source": "x", "file": csv_file()})

    assert response.status_code == 403 and not SyncRun.objects.exists()


@pytest.mark.parametrize(
    "client_name", ["../../../../etc/cron.d/evil.csv", "..\\..\\evil.csv", "/tmp/evil.csv", "static/x.jsonl", "a\x00b.csv"]
)
def test_an_upload_is_stored_under_a_generated_name_whatever_the_client_calls_it(
    client_for, admin_user, settings, django_capture_on_commit_callbacks, client_name: str
) -> None:
    with django_capture_on_commit_callbacks(execute=False):  # keep the stored file: the import would delete it
        response = client_for(admin_user).post(
            UPLOAD, {"new_source": "x", "file": SimpleUploadedFile(client_name, CSV_TEXT.encode(), "text/csv")}
        )

    assert response.status_code == 302, response.content
    run = SyncRun.objects.get()
    stored = Path(run.file_path)
    assert stored.parent == (Path(settings.MEDIA_ROOT) / "imports").resolve()
    assert re.fullmatch(r"[0-9a-f]{32}\.(csv|jsonl)", stored.name)
    assert stored.read_bytes() == CSV_TEXT.encode()
    static_roots = [Path(settings.STATIC_ROOT).resolve(), *(Path(d).resolve() for d in settings.STATICFILES_DIRS)]
    assert not any(stored.is_relative_to(root) for root in static_roots)


def test_nothing_under_media_root_is_served(client_for, admin_user, settings, django_capture_on_commit_callbacks) -> None:
    with django_capture_on_commit_callbacks(execute=False):
        client_for(admin_user).post(UPLOAD, {"new_source": "x", "file": csv_file()})
    stored = Path(SyncRun.objects.get().file_path)
    client = client_for(admin_user)

    for url in (f"/media/imports/{stored.name}", f"/imports/{stored.name}", f"/uploads/imports/{stored.name}",
                f"/static/{stored.name}", f"/{settings.MEDIA_URL.strip('/')}/imports/{stored.name}"):
        assert client.get(url).status_code == 404, url
