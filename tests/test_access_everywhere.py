"""Every URL of the project, opened by every persona: who gets in, who is refused, and CSRF on
every unsafe request.

The URLs come from the root resolver; ``ACCESS`` declares, per URL name, what kind of endpoint it
is and which personas each method allows. A URL that ``ACCESS`` does not cover fails
``test_the_table_covers_every_url``, so a new page cannot slip in unprotected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.apps import apps
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from insights.models import Theme, ThemeStatus
from roadmap.models import BacklogItem
from roadmap.services import escalation_raise, theme_link_create
from tickets.records import ticket_record_from_dict
from tickets.services import api_token_get_or_create, ingest_records, source_webhook_secret_rotate, sync_run_start

pytestmark = pytest.mark.django_db

ANONYMOUS = "anonymous"
SIGNED_IN = frozenset({"admin_user", "support_lead", "product_manager", "viewer", "outsider"})
PERSONAS = [*sorted(SIGNED_IN), ANONYMOUS]
READERS = frozenset({"admin_user", "support_lead", "product_manager", "viewer"})
CURATORS = frozenset({"admin_user", "support_lead"})  # access_themes_curate
ESCALATORS = frozenset({"admin_user", "support_lead", "product_manager"})  # access_escalations_work / _link
PLANNERS = frozenset({"admin_user", "product_manager"})  # access_backlog_edit / access_backlog_link
ADMINS = frozenset({"admin_user"})  # access_tickets_import, access_sources_manage
EVERYONE = SIGNED_IN | {ANONYMOUS}


@dataclass(frozen=True)
class Endpoint:
    """``kind``: "page" (GET, HTML), "action" (POST-only form or htmx target), "api" (DRF),
    "public" (no sign-in; only checked not to refuse anyone). ``methods`` maps each accepted
    method to the personas it lets through. ``obj`` names the object a ``pk`` argument points to."""

    kind: str
    methods: dict[str, frozenset[str]]
    obj: str = ""
    query: dict[str, str] = field(default_factory=dict)


def page(allowed: frozenset[str], obj: str = "", **query: str) -> Endpoint:
    return Endpoint("page", {"get": allowed}, obj, query)


def action(allowed: frozenset[str], obj: str = "") -> Endpoint:
    return Endpoint("action", {"post": allowed}, obj)


def api(**methods: frozenset[str]) -> Endpoint:
    return Endpoint("api", methods)


ACCESS: dict[str, Endpoint] = {
    # config/urls.py
    "healthz": Endpoint("public", {"get": EVERYONE}),
    "login": Endpoint("public", {"get": EVERYONE}),
    "logout": Endpoint("public", {"post": EVERYONE}),
    "password_change": page(SIGNED_IN),
    "password_change_done": page(SIGNED_IN),
    "api-schema": api(get=SIGNED_IN),
    "api-docs": page(SIGNED_IN),
    # tickets
    "overview": page(READERS),
    "ticket_list": page(READERS),
    "ticket_detail": page(READERS, "ticket"),
    "import_upload": page(ADMINS),
    "import_run": page(ADMINS, "run"),
    "import_errors_csv": page(ADMINS, "run"),
    "source_list": page(ADMINS),
    "source_new": page(ADMINS, kind="zendesk"),
    "source_detail": page(ADMINS, "source"),
    "source_edit": page(ADMINS, "source"),
    "source_history": page(ADMINS, "source"),
    "source_run": page(ADMINS, "source"),
    "source_sync_status": page(ADMINS, "source"),
    "source_test": action(ADMINS, "source"),
    "source_sync": action(ADMINS, "source"),
    "source_toggle": action(ADMINS, "source"),
    "source_webhook_rotate": action(ADMINS, "source"),
    # insights
    "dashboard": page(READERS),
    "theme_list": page(READERS),
    "theme_detail": page(READERS, "theme"),
    "compare": page(READERS),
    "triage": page(CURATORS),
    "triage_row": page(CURATORS, mode="pick"),
    "suggested_themes": page(CURATORS),
    "suggested_card": page(CURATORS, "suggestion"),
    "discovery_status": page(CURATORS),
    "triage_file": action(CURATORS),
    "triage_new_theme": action(CURATORS),
    "ticket_themes_set": action(CURATORS),
    "ticket_no_request": action(CURATORS),
    "ticket_no_request_undo": action(CURATORS),
    "suggested_accept": action(CURATORS, "suggestion"),
    "suggested_rename": action(CURATORS, "suggestion"),
    "suggested_merge": action(CURATORS, "suggestion"),
    "suggested_split": action(CURATORS, "suggestion"),
    "suggested_dismiss": action(CURATORS, "suggestion"),
    "themes_merge_group": action(CURATORS),
    "theme_name": Endpoint("page", {"get": CURATORS, "post": CURATORS}, "theme", {"mode": "edit"}),
    "discovery_start": action(CURATORS),
    # roadmap
    "roadmap_board": page(READERS),
    "roadmap_unaddressed": page(READERS),
    "backlog_item_detail": page(READERS, "item"),
    "escalation_list": page(READERS),
    "escalation_detail": page(READERS, "escalation"),
    "backlog_item_create": action(PLANNERS),
    "backlog_item_update": action(PLANNERS, "item"),
    "backlog_item_status": action(PLANNERS, "item"),
    "backlog_item_tag_back": action(PLANNERS, "item"),
    "theme_link_create": action(PLANNERS),
    "theme_link_delete": action(PLANNERS, "link"),
    "escalation_raise": action(ESCALATORS),
    "escalation_update": action(ESCALATORS, "escalation"),
    "escalation_link": action(ESCALATORS, "escalation"),
    # the API
    "api-auth-token": Endpoint("public", {"post": EVERYONE}),
    # Webhooks authenticate by HMAC signature, not by user: unsigned deliveries are refused to all.
    "api-webhook": Endpoint("signed", {"post": frozenset()}),
    "api-ticket-list": api(get=READERS),
    "api-ticket-detail": api(get=READERS),
    "api-ticket-bulk": api(post=ADMINS),
    "api-import-create": api(post=ADMINS),
    "api-import-detail": api(get=ADMINS),
    "api-webhook-secret": api(post=ADMINS),
    "api-backlog-item-list": api(get=READERS, post=PLANNERS),
    "api-backlog-item-detail": api(get=READERS, patch=PLANNERS),
    "api-backlog-item-demand": api(get=READERS),
    "api-theme-link-create": api(post=PLANNERS),
    "api-theme-link-delete": api(delete=PLANNERS),
    "api-escalation-link": api(put=ESCALATORS),
}


def project_url_names(resolver: URLResolver | None = None) -> set[str]:
    """Every named URL pattern reachable from the root URLconf, Django's admin site excepted
    (it has its own staff check, tested below)."""
    names: set[str] = set()
    for pattern in (resolver or get_resolver()).url_patterns:
        if isinstance(pattern, URLResolver):
            if pattern.namespace != "admin":
                names |= project_url_names(pattern)
        elif isinstance(pattern, URLPattern):
            names.add(pattern.name or f"<unnamed {pattern.pattern}>")
    return names


CASES = [(name, method, persona) for name, endpoint in ACCESS.items() for method in endpoint.methods
         for persona in PERSONAS]
UNSAFE = [(name, method) for name, endpoint in ACCESS.items() for method in endpoint.methods
          if method != "get" and endpoint.kind in {"action", "api"}]


@pytest.fixture
def world(source, support_lead, django_capture_on_commit_callbacks) -> dict[str, Any]:
    """One of each object a URL can point to."""
    with django_capture_on_commit_callbacks(execute=True):  # the pipeline analyses the ticket
        ingest_records(source=source, records=[ticket_record_from_dict(
            {"external_id": "A-1", "subject": "Export", "body": "The CSV export stops", "created_at": "2026-03-01"}
        )])
    theme = Theme.objects.create(name="CSV export limit", status=ThemeStatus.ACTIVE)
    item = BacklogItem.objects.create(title="Stream CSV exports", status="planned")
    ticket = source.tickets.get()
    source_webhook_secret_rotate(source=source)
    return {
        "source": source,
        "ticket": ticket,
        "theme": theme,
        "suggestion": Theme.objects.create(name="Refunds", status=ThemeStatus.SUGGESTED),
        "item": item,
        "link": theme_link_create(item=item, theme=theme, user=support_lead),
        "escalation": escalation_raise(user=support_lead, ticket=ticket, severity="high", note="Acme is stuck."),
        "run": sync_run_start(source=source, trigger="upload"),
    }


# Arguments other than ``pk`` always mean the same kind of object.
_ARGUMENT_OBJECTS = {"ticket_pk": "ticket", "ticket_id": "ticket", "run_pk": "run", "sync_run_id": "run",
                     "item_id": "item", "theme_id": "theme", "escalation_id": "escalation", "source": "source"}


def url_of(name: str, world: dict[str, Any]) -> str:
    endpoint = ACCESS[name]
    pattern = get_resolver().reverse_dict.getlist(name)[0][0][0][1]
    kwargs = {arg: world[endpoint.obj if arg == "pk" else _ARGUMENT_OBJECTS[arg]].pk for arg in pattern}
    query = "&".join(f"{key}={value}" for key, value in endpoint.query.items())
    return reverse(name, kwargs=kwargs) + (f"?{query}" if query else "")


def client_as(request: pytest.FixtureRequest, persona: str, **options: Any) -> Client:
    client = Client(**options)
    if persona != ANONYMOUS:
        client.force_login(request.getfixturevalue(persona))
    return client


def send(client: Client, method: str, url: str, kind: str) -> Any:
    if kind == "api":
        return getattr(client, method)(url, {} if method != "get" else None, content_type="application/json")
    return getattr(client, method)(url)


def _sent_to_sign_in(response: Any) -> bool:
    return response.status_code == 302 and response["Location"].startswith("/login/?next=")


def _let_through(response: Any) -> bool:
    """Access passed; an empty body may still be invalid (400) or name nothing (404 on a form)."""
    return response.status_code < 500 and response.status_code not in {401, 403, 405} and not _sent_to_sign_in(
        response
    )


def assert_outcome(endpoint: Endpoint, method: str, persona: str, response: Any) -> None:
    allowed = persona in endpoint.methods[method]
    if endpoint.kind == "public":
        assert _let_through(response), response.status_code
    elif endpoint.kind == "signed":
        assert response.status_code in {401, 403}
    elif endpoint.kind == "api" and persona == ANONYMOUS:
        assert response.status_code == 401
    elif persona == ANONYMOUS:
        assert _sent_to_sign_in(response), response.status_code
    elif not allowed:
        assert response.status_code == 403
    elif method == "get":
        assert response.status_code == 200
    else:
        assert _let_through(response), response.status_code


def test_the_table_covers_every_url() -> None:
    assert project_url_names() == set(ACCESS)


@pytest.mark.parametrize(("name", "method", "persona"), CASES, ids=[f"{n}-{m}-{p}" for n, m, p in CASES])
def test_access_by_persona(request, world, name: str, method: str, persona: str) -> None:
    endpoint = ACCESS[name]

    response = send(client_as(request, persona), method, url_of(name, world), endpoint.kind)

    assert_outcome(endpoint, method, persona, response)


@pytest.mark.parametrize("name", [name for name, endpoint in ACCESS.items() if endpoint.kind == "action"])
def test_actions_refuse_get(request, world, name: str) -> None:
    allowed = next(iter(ACCESS[name].methods["post"]))

    assert client_as(request, allowed).get(url_of(name, world)).status_code == 405


@pytest.mark.parametrize("persona", ["viewer", "outsider"])
def test_django_admin_is_for_staff_only(request, persona: str) -> None:
    response = client_as(request, persona).get(reverse("admin:index"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


# --- CSRF ------------------------------------------------------------------------------------------------


def _database_state() -> dict[str, list[tuple[Any, ...]]]:
    return {
        model._meta.label: list(model._default_manager.order_by("pk").values_list())
        for app in ("tickets", "insights", "roadmap")
        for model in apps.get_app_config(app).get_models()
    }


@pytest.mark.parametrize(("name", "method"), UNSAFE, ids=[f"{n}-{m}" for n, m in UNSAFE])
def test_unsafe_requests_without_a_csrf_token_are_refused(request, world, name: str, method: str) -> None:
    """Session-authenticated, by a persona who may: the form posts and the API alike need the token."""
    endpoint = ACCESS[name]
    client = client_as(request, next(iter(endpoint.methods[method])), enforce_csrf_checks=True)
    before = _database_state()

    response = send(client, method, url_of(name, world), endpoint.kind)

    assert response.status_code == 403
    assert _database_state() == before


def test_token_authenticated_api_calls_need_no_csrf_token(world, admin_user) -> None:
    client = Client(enforce_csrf_checks=True, headers={"Authorization": f"Token {api_token_get_or_create(user=admin_user)}"})

    response = client.post(url_of("api-backlog-item-list", world), {"title": "Offline mode"},
                           content_type="application/json")

    assert response.status_code == 201


def test_getting_an_api_token_needs_no_csrf_token(admin_user) -> None:
    from tests.conftest import PASSWORD

    response = Client(enforce_csrf_checks=True).post(
        reverse("api-auth-token"), {"username": admin_user.email, "password": PASSWORD}
    )

    assert response.status_code == 200


_FORM = re.compile(r"<form\b([^>]*)>(.*?)</form>", re.IGNORECASE | re.DOTALL)


def _post_forms(html: str) -> list[str]:
    return [body for attributes, body in _FORM.findall(html) if re.search(r"method=[\"']?post", attributes, re.I)]


PAGES = [name for name, endpoint in ACCESS.items() if endpoint.kind == "page"]


@pytest.mark.parametrize("name", PAGES)
def test_every_post_form_carries_the_csrf_token(request, world, name: str) -> None:
    html = client_as(request, "admin_user").get(url_of(name, world)).content.decode()

    for form in _post_forms(html):
        assert 'name="csrfmiddlewaretoken"' in form, form[:300]


_INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc=)[^>]*>|\son[a-z]+\s*=", re.IGNORECASE)


@pytest.mark.parametrize("name", PAGES)
def test_no_page_has_an_inline_script(request, world, name: str) -> None:
    """The Content-Security-Policy allows scripts from our static files only (config/csp.py)."""
    html = client_as(request, "admin_user").get(url_of(name, world)).content.decode()

    assert not _INLINE_SCRIPT.findall(html)


def test_htmx_requests_send_the_token_from_the_page(request, world) -> None:
    """base.html puts the token in ``hx-headers`` on <body>; htmx sends it with every request."""
    client = client_as(request, "admin_user", enforce_csrf_checks=True)
    html = client.get(reverse("ticket_list")).content.decode()
    token = re.search(r"""<body[^>]*hx-headers='\{"X-CSRFToken": "([^"]+)"\}'""", html)
    assert token is not None

    response = client.post(url_of("source_toggle", world), headers={"X-CSRFToken": token.group(1), "HX-Request": "true"})

    assert _let_through(response), response.status_code


# --- secrets are never shown -----------------------------------------------------------------------------

TICKET_SECRET = "zd-token-3f9c1e7a-never-shown"  # markers to look for in every response
TRACKER_SECRET = "ghp_tracker-secret-5b2d-never-shown"


@pytest.fixture
def configured_sources(world) -> Any:
    """A help-desk source configured through its service, a tracker through Django's admin form."""
    from django.contrib.auth import get_user_model

    from roadmap.models import BacklogSource
    from tickets.services import source_configure

    zendesk, _ = source_configure(name="Zendesk", kind="zendesk", settings_update={"subdomain": "acme"},
                                  secrets_update={"api_token": TICKET_SECRET})
    superuser = get_user_model().objects.create_superuser("root", "root@example.com", "x")
    admin_client = Client()
    admin_client.force_login(superuser)
    response = admin_client.post(reverse("admin:roadmap_backlogsource_add"), {
        "name": "Webapp issues", "kind": "github", "settings": '{"repository": "acme/webapp"}',
        "status_mapping": "{}", "enabled": "on", "secret": TRACKER_SECRET,
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    return admin_client, zendesk, BacklogSource.objects.get()


def test_secrets_are_stored_encrypted_and_never_rendered(request, world, configured_sources) -> None:
    admin_client, zendesk, tracker = configured_sources
    world = {**world, "source": zendesk, "run": sync_run_start(source=zendesk, trigger="manual")}
    client = client_as(request, "admin_user")
    responses = [client.get(url_of(name, world)) for name in PAGES]
    responses += [send(client, "get", url_of(name, world), "api") for name, endpoint in ACCESS.items()
                  if endpoint.kind == "api" and "get" in endpoint.methods]
    responses += [admin_client.get(reverse(f"admin:{label}_change", args=[obj.pk]))
                  for label, obj in [("tickets_source", zendesk), ("roadmap_backlogsource", tracker)]]
    responses += [admin_client.get(reverse(f"admin:{label}_changelist"))
                  for label in ["tickets_source", "roadmap_backlogsource"]]

    for response in responses:
        assert response.status_code == 200, response.wsgi_request.path
        body = response.content.decode()
        assert TICKET_SECRET not in body, response.wsgi_request.path
        assert TRACKER_SECRET not in body, response.wsgi_request.path
    for stored in (zendesk, tracker):
        stored.refresh_from_db()
        assert stored.credentials_encrypted
        assert TICKET_SECRET not in stored.credentials_encrypted
        assert TRACKER_SECRET not in stored.credentials_encrypted
        assert TICKET_SECRET not in str(stored.settings) and TRACKER_SECRET not in str(stored.settings)
