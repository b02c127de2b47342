"""Password guessing is throttled on the login page and the API token endpoint alike (tickets.signin)."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tests.conftest import PASSWORD
from tickets.models import SignInFailure
from tickets.signin import MAX_FAILURES_PER_ADDRESS, MAX_FAILURES_PER_USERNAME, WINDOW

pytestmark = pytest.mark.django_db

THROTTLED = "Too many failed sign-ins; try again in"


def sign_in(username: str, password: str, address: str = "203.0.113.7") -> Any:
    return Client(REMOTE_ADDR=address).post(reverse("login"), {"username": username, "password": password})


def get_token(username: str, password: str, address: str = "203.0.113.7") -> Any:
    return Client(REMOTE_ADDR=address).post(reverse("api-auth-token"), {"username": username, "password": password})


def fail(times: int, username: str, address: str = "203.0.113.7") -> None:
    for _ in range(times):
        assert THROTTLED not in sign_in(username, "wrong", address).content.decode()


def test_a_wrong_password_is_counted(viewer) -> None:
    response = sign_in(viewer.email, "wrong")

    assert response.status_code == 200
    assert "Please enter a correct" in response.content.decode()
    assert SignInFailure.objects.get().username == viewer.email


def test_after_five_failures_the_username_is_refused_without_checking_the_password(viewer, caplog) -> None:
    fail(MAX_FAILURES_PER_USERNAME, viewer.email)

    with mock.patch("tickets.signin.authenticate") as authenticate, caplog.at_level(logging.WARNING):
        response = sign_in(viewer.email.upper(), PASSWORD, address="198.51.100.1")

    authenticate.assert_not_called()
    assert "Too many failed sign-ins; try again in 15 minutes." in response.content.decode()
    assert "_auth_user_id" not in response.wsgi_request.session
    assert "sign-in refused" in caplog.text


def test_other_usernames_are_not_held_up_by_one(viewer, product_manager) -> None:
    fail(MAX_FAILURES_PER_USERNAME, viewer.email)

    assert sign_in(product_manager.email, PASSWORD).status_code == 302


def test_an_address_is_refused_after_twenty_failures_over_any_usernames(viewer) -> None:
    for n in range(MAX_FAILURES_PER_ADDRESS):
        fail(1, f"guess{n}@example.com")

    assert THROTTLED in sign_in(viewer.email, PASSWORD).content.decode()
    assert sign_in(viewer.email, PASSWORD, address="198.51.100.1").status_code == 302


def test_failures_older_than_the_window_no_longer_count_and_are_pruned(viewer) -> None:
    long_ago = timezone.now() - WINDOW - timedelta(seconds=1)
    SignInFailure.objects.bulk_create(
        SignInFailure(username=viewer.email, ip="203.0.113.7", at=long_ago) for _ in range(MAX_FAILURES_PER_USERNAME)
    )

    fail(1, viewer.email)

    assert SignInFailure.objects.filter(at__lte=long_ago).count() == 0
    assert sign_in(viewer.email, PASSWORD).status_code == 302


def test_the_wait_is_until_the_oldest_counted_failure_leaves_the_window(viewer) -> None:
    SignInFailure.objects.bulk_create(
        SignInFailure(username=viewer.email, ip=None, at=timezone.now() - timedelta(minutes=12)) for _ in range(5)
    )

    assert "try again in 3 minutes." in sign_in(viewer.email, PASSWORD).content.decode()


def test_a_successful_sign_in_clears_the_usernames_failures(viewer) -> None:
    fail(MAX_FAILURES_PER_USERNAME - 1, viewer.email)

    assert sign_in(viewer.email, PASSWORD).status_code == 302

    assert not SignInFailure.objects.filter(username=viewer.email).exists()
    fail(MAX_FAILURES_PER_USERNAME - 1, viewer.email)


def test_the_api_token_endpoint_counts_and_obeys_the_same_failures(viewer) -> None:
    for _ in range(MAX_FAILURES_PER_USERNAME - 1):
        assert get_token(viewer.email, "wrong").status_code == 400
    fail(1, viewer.email)  # the login page and the API share one count

    with mock.patch("tickets.signin.authenticate") as authenticate:
        response = get_token(viewer.email, PASSWORD)

    authenticate.assert_not_called()
    assert response.status_code == 429
    assert response.json()["detail"].startswith("Too many failed sign-ins; try again in 15 minutes.")
    assert response["Retry-After"] == str(15 * 60)


def test_a_token_request_that_succeeds_clears_the_failures(viewer) -> None:
    fail(MAX_FAILURES_PER_USERNAME - 1, viewer.email)

    assert get_token(viewer.email, PASSWORD).status_code == 200

    assert not SignInFailure.objects.exists()
