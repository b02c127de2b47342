"""Jira Cloud: a project's issues changed since the last sync, by JQL.

API (developer.atlassian.com, Jira Cloud platform REST API v3):

- ``GET /rest/api/3/search/jql?jql=…&fields=…&maxResults=100`` (the enhanced search that replaced
  ``/rest/api/3/search``); the answer's ``nextPageToken`` asks for the next page until ``isLast``.
- JQL ``project = "KEY" AND updated >= "yyyy/MM/dd HH:mm" ORDER BY updated ASC, key ASC``. JQL
  dates have minute precision and are read in the API user's time zone (the ``timezone``
  setting, UTC unless told), so the boundary minute comes again and is found unchanged.
- Auth: HTTP Basic with the account's email and an API token (id.atlassian.com → Security).
- ``description`` is Atlassian Document Format, flattened to text here; status mapping by status
  name ("In Review"), then ``resolution:<name>``, then ``category:<key>`` of the status category
  (``new``, ``indeterminate``, ``done``).
- Rate limits: 429 with ``Retry-After``; ``ApiClient`` waits and retries.

The cursor is ``{"updated": <updated time of the newest issue stored>}`` after every page.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping
from datetime import UTC
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from roadmap.connectors.base import BacklogPage, BacklogRecord, Tracker, kind_guess
from tickets.connectors.base import (
    ApiClient,
    ConfigurationError,
    SettingField,
    Sleep,
    iso_z,
    parse_time,
    require,
)

VENDOR = "Jira"
SEARCH_PATH = "/rest/api/3/search/jql"
PAGE_SIZE = 100
SEARCH_FIELDS = "summary,description,status,issuetype,labels,resolution,resolutiondate,updated"

DEFAULT_STATUS_MAPPING = {
    "category:new": "idea",
    "category:indeterminate": "in_progress",
    "category:done": "shipped",
    "resolution:won't do": "wont_do",
    "resolution:won't fix": "wont_do",
    "resolution:declined": "wont_do",
    "resolution:duplicate": "wont_do",
    "resolution:cannot reproduce": "wont_do",
}

FIELDS = (
    SettingField("site", "Site", "Your Jira address, e.g. acme.atlassian.net.", True),
    SettingField("project", "Project key", "The key of the project to sync, e.g. WEB.", True),
    SettingField("email", "Account email", "The email of the Atlassian account whose API token this is.", True),
    SettingField("api_token", "API token", "id.atlassian.com → Security → Create and manage API tokens.", True, True),
    SettingField("timezone", "Account time zone", "Optional. The API account's time zone in Jira (e.g. "
                 "Europe/Berlin); JQL dates are read in it. UTC unless given."),
    SettingField("base_url", "Base URL", "Optional. Overrides https://<site>, for a proxy."),
)


def _base_url(settings: Mapping[str, Any]) -> str:
    base_url = str(settings.get("base_url") or "").strip()
    if base_url:
        return base_url
    site = require(settings, "site", "Jira site").removeprefix("https://").strip("/")
    return f"https://{site}"


def _project(settings: Mapping[str, Any]) -> str:
    project = require(settings, "project", "Jira project key")
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", project):
        raise ConfigurationError(f"The project key {project!r} is not a Jira key (letters and digits, e.g. WEB).")
    return project.upper()


def _zone(settings: Mapping[str, Any]) -> Any:
    name = str(settings.get("timezone") or "").strip()
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigurationError(f"The time zone {name!r} is unknown; use a name like Europe/Berlin.") from None


def _client(settings: Mapping[str, Any], credentials: Mapping[str, Any], sleep: Sleep) -> ApiClient:
    email = require(settings, "email", "Atlassian account email")
    token = require(credentials, "api_token", "Jira API token")
    return ApiClient(
        _base_url(settings), vendor=VENDOR, auth=(email, token), headers={"Accept": "application/json"},
        sleep=sleep, credentials_hint="the email and API token",
    )


def jql_for(settings: Mapping[str, Any], cursor: Mapping[str, Any]) -> str:
    """The search: the project's issues updated in or after the minute of the cursor, oldest first."""
    clauses = [f'project = "{_project(settings)}"']
    updated = parse_time(cursor.get("updated"))
    if updated is not None:
        local = updated.astimezone(_zone(settings))
        clauses.append(f'updated >= "{local:%Y/%m/%d %H:%M}"')
    return " AND ".join(clauses) + " ORDER BY updated ASC, key ASC"


def fetch(
    settings: Mapping[str, Any], credentials: Mapping[str, Any], cursor: Mapping[str, Any], *, sleep: Sleep = time.sleep
) -> Iterator[BacklogPage]:
    """Pages of the project's issues updated since ``cursor["updated"]`` (all of them without it)."""
    jql = jql_for(settings, cursor)
    newest = parse_time(cursor.get("updated"))
    site = str(settings.get("site") or "").strip().removeprefix("https://").strip("/")
    with _client(settings, credentials, sleep) as client:
        base = f"https://{site}" if site else client.base_url  # where people open issues, not a proxy
        token: str | None = None
        while True:
            params: dict[str, Any] = {"jql": jql, "fields": SEARCH_FIELDS, "maxResults": PAGE_SIZE}
            if token:
                params["nextPageToken"] = token
            payload = client.get_json(SEARCH_PATH, params=params)
            issues = payload.get("issues") or []
            records = [_record(base, issue) for issue in issues]
            for record in records:
                if record.updated_at and (newest is None or record.updated_at > newest):
                    newest = record.updated_at
            yield BacklogPage(records=records, cursor={"updated": iso_z(newest)} if newest else {})
            token = payload.get("nextPageToken")
            if payload.get("isLast", not token) or not token:
                return


def _record(base_url: str, issue: Mapping[str, Any]) -> BacklogRecord:
    fields = issue.get("fields") or {}
    status = fields.get("status") or {}
    category = (status.get("statusCategory") or {}).get("key") or ""
    resolution = (fields.get("resolution") or {}).get("name") or ""
    states = tuple(
        state
        for state in (
            status.get("name") or "",
            f"resolution:{resolution}" if resolution else "",
            f"category:{category}" if category else "",
        )
        if state
    )
    shown = status.get("name") or category or "unknown"
    key = str(issue["key"])
    return BacklogRecord(
        external_key=key,
        title=str(fields.get("summary") or key),
        description=adf_to_text(fields.get("description")),
        kind=kind_guess((fields.get("issuetype") or {}).get("name") or "", *(fields.get("labels") or [])),
        state=f"{shown} ({resolution})" if resolution else shown,
        states=states,
        url=f"{base_url}/browse/{key}",
        updated_at=parse_time(fields.get("updated")),
        closed_at=parse_time(fields.get("resolutiondate")) if category == "done" else None,
    )


_BLOCKS = {"paragraph", "heading", "blockquote", "codeBlock", "listItem", "tableRow", "panel", "rule", "mediaSingle"}


def adf_to_text(document: Any) -> str:
    """Plain text of an Atlassian Document Format node: blocks on their own lines, mentions by name."""
    if document is None:
        return ""
    if isinstance(document, str):  # API v2 answers, or a proxy that renders text
        return document.strip()
    parts: list[str] = []

    def walk(node: Any) -> None:
        if not isinstance(node, dict):
            return
        kind = node.get("type")
        attrs = node.get("attrs") or {}
        if kind == "text":
            parts.append(str(node.get("text") or ""))
        elif kind == "hardBreak":
            parts.append("\n")
        elif kind in {"mention", "emoji", "status", "date"}:
            parts.append(str(attrs.get("text") or attrs.get("shortName") or attrs.get("timestamp") or ""))
        elif kind in {"inlineCard", "blockCard"}:
            parts.append(str(attrs.get("url") or ""))
        for child in node.get("content") or []:
            walk(child)
        if kind in _BLOCKS:
            parts.append("\n")

    walk(document)
    lines = [re.sub(r"[ \t]+", " ", line).strip() for line in "".join(parts).splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def connection_check(settings: Mapping[str, Any], credentials: Mapping[str, Any], *, sleep: Sleep = time.sleep) -> str:
    project = _project(settings)
    with _client(settings, credentials, sleep) as client:
        me = client.get_json("/rest/api/3/myself")
        found = client.get_json(f"/rest/api/3/project/{project}")
    return f"Signed in as {me.get('displayName') or me.get('emailAddress') or 'the API user'}; project {project} " \
        f"({found.get('name') or project})."


TRACKER = Tracker(
    kind="jira",
    label="Jira Cloud",
    vendor=VENDOR,
    fields=FIELDS,
    fetch=fetch,
    test_connection=connection_check,
    default_status_mapping=DEFAULT_STATUS_MAPPING,
)
