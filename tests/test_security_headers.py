"""With DEBUG off, cookies are secure and every response carries the hardening headers.

Settings are read at import, so production is exercised in a subprocess with DEBUG=false.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

from config.csp import CONTENT_SECURITY_POLICY

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = secrets.token_urlsafe(50)

# Signs in on a throw-away in-memory database and prints the response's headers and cookies.
PRODUCTION_REQUEST = """
import json
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
call_command("migrate", verbosity=0)
get_user_model().objects.create_user("ada", "ada@example.com", "correct-horse-battery-staple")
response = Client().post("/login/", {"username": "ada", "password": "correct-horse-battery-staple"}, secure=True)
print(json.dumps({
    "status": response.status_code,
    "headers": dict(response.headers),
    "cookies": {name: {key: str(value) for key, value in morsel.items()} for name, morsel in response.cookies.items()},
}))
"""


def _production_env(**extra: str) -> dict[str, str]:
    # The browser tests' DJANGO_ALLOW_ASYNC_UNSAFE is no part of a deployment (check --deploy flags it).
    left_out = {"DATABASE_URL", "REDIS_URL", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env = {key: value for key, value in os.environ.items() if key not in left_out}
    return {**env, "DEBUG": "false", "SECRET_KEY": SECRET_KEY, "ALLOWED_HOSTS": "testserver",
            "DATABASE_URL": "sqlite:///:memory:", **extra}


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=BASE_DIR, env=_production_env(**env),
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def production_sign_in() -> dict:
    result = _manage("shell", "-c", PRODUCTION_REQUEST)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_session_and_csrf_cookies_are_secure(production_sign_in) -> None:
    assert production_sign_in["status"] == 302
    session, csrf = production_sign_in["cookies"]["sessionid"], production_sign_in["cookies"]["csrftoken"]
    assert session["secure"] and session["httponly"] and session["samesite"] == "Lax"
    assert csrf["secure"] and csrf["samesite"] == "Lax"
    assert not csrf["httponly"]  # htmx takes the token from the page; JS may read the cookie too


def test_responses_carry_the_hardening_headers(production_sign_in) -> None:
    headers = production_sign_in["headers"]

    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
    assert headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY


def test_the_policy_keeps_everything_on_our_own_origin() -> None:
    directives = dict(directive.split(" ", 1) for directive in CONTENT_SECURITY_POLICY.split("; "))

    assert directives["default-src"] == "'self'"
    assert directives["object-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert "'unsafe-eval'" not in CONTENT_SECURITY_POLICY
    assert directives["script-src"] == "'self'"  # no inline script or event handler runs
    assert not any(source.startswith(("http", "*")) for value in directives.values() for source in value.split())


@pytest.mark.django_db
def test_the_policy_applies_with_debug_on_too(client: Client) -> None:
    assert client.get("/healthz")["Content-Security-Policy"] == CONTENT_SECURITY_POLICY


def test_deploy_check_leaves_only_the_operators_https_choices() -> None:
    result = _manage("check", "--deploy", "--fail-level", "WARNING")
    reported = set(re.findall(r"\((security\.\w+)\)", result.stderr))

    assert reported == {"security.W004", "security.W008"}, result.stderr


def test_deploy_check_is_clean_once_https_is_enforced() -> None:
    result = _manage("check", "--deploy", "--fail-level", "WARNING", SECURE_HSTS_SECONDS="31536000",
                     SECURE_HSTS_INCLUDE_SUBDOMAINS="true", SECURE_HSTS_PRELOAD="true", SECURE_SSL_REDIRECT="true")

    assert result.returncode == 0, result.stderr
