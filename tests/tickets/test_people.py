from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.conftest import PASSWORD
from tickets.access import Role, user_role

pytestmark = pytest.mark.django_db


def test_every_role_is_a_group_with_permissions() -> None:
    from django.contrib.auth.models import Group

    groups = {group.name: set(group.permissions.values_list("codename", flat=True)) for group in Group.objects.all()}

    assert {role.label for role in Role} <= groups.keys()
    assert "import_tickets" in groups["Admin"] and "import_tickets" not in groups["Viewer"]
    assert "view_ticket" in groups["Viewer"]


def test_create_user_makes_a_user_with_a_role_and_prints_a_password() -> None:
    out = StringIO()
    call_command("create_user", "Lee@Example.com", "--role", "support_lead", "--token", stdout=out)

    user = get_user_model().objects.get(email="lee@example.com")
    assert user_role(user) == Role.SUPPORT_LEAD
    password = next(line for line in out.getvalue().splitlines() if line.startswith("Password: ")).split(": ")[1]
    assert user.check_password(password)
    assert "API token: " in out.getvalue()


def test_create_user_changes_the_role_of_an_existing_user_and_keeps_the_password(viewer) -> None:
    call_command("create_user", viewer.email, "--role", "product_manager", stdout=StringIO())

    viewer.refresh_from_db()
    assert user_role(viewer) == Role.PRODUCT_MANAGER and viewer.check_password(PASSWORD)


def test_create_user_refuses_a_weak_password() -> None:
    with pytest.raises(CommandError, match="too common"):
        call_command("create_user", "x@example.com", "--role", "viewer", "--password", "password", stdout=StringIO())


def test_login_with_email_and_logout(client, admin_user) -> None:
    response = client.post("/login/", {"username": admin_user.email, "password": PASSWORD})
    assert response.status_code == 302

    assert client.get("/").status_code == 200
    client.post("/logout/")
    assert client.get("/").status_code == 302


def test_the_email_signs_in_in_any_letter_case(client, admin_user) -> None:
    assert client.login(username=admin_user.email.upper(), password=PASSWORD)
    assert not client.login(username=admin_user.email, password="wrong")
    assert not client.login(username="nobody@example.com", password=PASSWORD)


def test_a_user_can_change_their_password(client_for, viewer) -> None:
    client = client_for(viewer)
    response = client.post(
        "/account/password/",
        {"old_password": PASSWORD, "new_password1": "a-new-long-passphrase", "new_password2": "a-new-long-passphrase"},
    )

    assert response.status_code == 302
    viewer.refresh_from_db()
    assert viewer.check_password("a-new-long-passphrase")


@pytest.mark.parametrize("persona", ["admin_user", "support_lead", "product_manager", "viewer"])
def test_every_role_sees_the_overview(request, client_for, persona) -> None:
    assert client_for(request.getfixturevalue(persona)).get("/").status_code == 200


def test_an_outsider_without_a_role_is_refused_and_an_anonymous_visitor_sent_to_login(client_for, outsider) -> None:
    assert client_for(outsider).get("/").status_code == 403
    response = client_for(None).get("/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_setup_demo_prints_one_login_per_role_that_works(settings, tmp_path, client) -> None:
    from unittest import mock

    settings.DATA_DIR = tmp_path
    out = StringIO()
    with mock.patch("tickets.management.commands.setup_demo.call_command") as seed:
        call_command("setup_demo", stdout=out)
    seed.assert_called_once()

    lines = [line.split() for line in out.getvalue().splitlines() if "@example.com" in line]
    assert len(lines) == len(Role)
    for *_, email, password in lines:
        assert client.login(username=email, password=password)
    # A second start prints the same logins.
    again = StringIO()
    with mock.patch("tickets.management.commands.setup_demo.call_command"):
        call_command("setup_demo", stdout=again)
    assert [line.split() for line in again.getvalue().splitlines() if "@example.com" in line] == lines


def test_setup_demo_moves_week_old_demo_data_forward(settings, tmp_path, source) -> None:
    from datetime import timedelta
    from unittest import mock

    from django.utils import timezone

    from tickets.models import SourceKind, Ticket
    from tickets.records import ticket_record_from_dict
    from tickets.services import ingest_records

    settings.DATA_DIR = tmp_path
    source.kind = SourceKind.DEMO
    source.save(update_fields=["kind"])
    old = (timezone.now() - timedelta(days=8)).isoformat()
    record = ticket_record_from_dict({"external_id": "1", "body": "x", "created_at": old})
    ingest_records(source=source, records=[record])

    with mock.patch("tickets.management.commands.setup_demo.call_command") as seed:
        call_command("setup_demo", stdout=StringIO())
    seed.assert_called_once()

    Ticket.objects.update(created_at=timezone.now())
    with mock.patch("tickets.management.commands.setup_demo.call_command") as seed:
        call_command("setup_demo", stdout=StringIO())
    seed.assert_not_called()
