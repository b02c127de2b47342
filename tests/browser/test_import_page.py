from __future__ import annotations

import pytest

from tests.browser.conftest import screenshot
from tickets.models import Ticket

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CSV = (
    "external_id,subject,body,created_at,organization,plan\n"
    "U-1,Refund,I was charged twice this month,2026-03-01T09:00:00Z,Acme,pro\n"
    "U-2,Broken,,2026-03-01T09:00:00Z,Acme,pro\n"
    "U-3,Export,Export times out,2026-03-02T09:00:00Z,Globex,free\n"
)


def test_an_admin_uploads_a_file_and_sees_the_rejected_row_by_line(page, sign_in, admin_user, tmp_path) -> None:
    upload = tmp_path / "export.csv"
    upload.write_text(CSV)
    sign_in(admin_user)

    page.get_by_role("link", name="Sources", exact=True).click()
    page.get_by_role("link", name="Import a file").click()
    screenshot(page, "import")
    page.get_by_label("New source name").fill("Legacy help desk")
    page.locator("input[type=file]").set_input_files(str(upload))
    page.get_by_role("button", name="Upload and import").click()

    page.get_by_text("Finished with rejected records").wait_for()
    row = page.locator("table tr", has_text="U-2")
    assert "body is required" in row.inner_text()
    assert row.locator("td").first.inner_text().strip() == "3"
    screenshot(page, "import-run")
    assert set(Ticket.objects.values_list("external_id", flat=True)) == {"U-1", "U-3"}
