"""GitHub Issues: a repository's issues, changed since the last sync, with conditional requests.

API (docs.github.com, REST "List repository issues", version 2022-11-28):

- ``GET /repos/{owner}/{repo}/issues?state=all&sort=updated&direction=asc&per_page=100&since=<ISO>``;
  ``since`` keeps issues updated at or after it. The ``Link: <…>; rel="next"`` header says whether
  more pages follow. The list is paged by offset, so an issue updated during the walk would shift
  one not yet read onto a page already read; the next page is therefore asked for as ``since`` =
  the newest ``updated_at`` read (the issues at that instant come again and are skipped), and the
  ``Link`` URL is followed only while a whole page shares one instant.
  Pull requests are issues too: they carry a ``pull_request`` key and are skipped.
- Auth: ``Authorization: Bearer <token>`` (a fine-grained token with read access to issues, or a
  classic token with ``repo``). A bad token is a 401.
- Conditional requests: the answer's ``ETag`` sent back as ``If-None-Match`` makes an unchanged
  answer a 304 with no body, which does not count against the rate limit.
- Rate limits: ``x-ratelimit-remaining`` / ``x-ratelimit-reset`` (epoch seconds) on every answer;
  the primary limit is a 403 or 429 with ``x-ratelimit-remaining: 0``, the secondary limit a 403
  or 429 with ``Retry-After``. ``ApiClient`` waits and retries on all of them.

The cursor is ``{"since": <updated_at of the newest issue stored>}`` after every page, so a sync
that stops resumes there (the issues at that very second come again and are found unchanged).
When an answer holds nothing newer than ``since``, its ETag is kept with it
(``{"since", "etag", "etag_since"}``): the next sync asks with ``If-None-Match`` and a 304 ends it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping
from typing import Any

from roadmap.connectors.base import BacklogPage, BacklogRecord, Tracker, kind_guess
from tickets.connectors.base import (
    ApiClient,
    ConfigurationError,
    SettingField,
    Sleep,
    iso_z,
    next_link,
    parse_time,
    require,
)

VENDOR = "GitHub"
DEFAULT_BASE_URL = "https://api.github.com"
PAGE_SIZE = 100

DEFAULT_STATUS_MAPPING = {
    "open": "idea",
    "closed:completed": "shipped",
    "closed:not_planned": "wont_do",
    "closed:duplicate": "wont_do",
    "closed": "shipped",
}

FIELDS = (
    SettingField("repository", "Repository", "owner/name, e.g. acme/webapp.", True),
    SettingField(
        "token", "Access token",
        "A fine-grained personal access token with read access to the repository's issues.", True, True,
    ),
    SettingField("base_url", "API address", "Optional. https://api.github.com, or https://HOST/api/v3 for GitHub "
                 "Enterprise Server."),
)


def _repository(settings: Mapping[str, Any]) -> str:
    repository = require(settings, "repository", "GitHub repository (owner/name)").strip("/")
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", repository):
        raise ConfigurationError(f"The repository {repository!r} must be written owner/name, e.g. acme/webapp.")
    return repository


def _client(settings: Mapping[str, Any], credentials: Mapping[str, Any], sleep: Sleep) -> ApiClient:
    token = require(credentials, "token", "GitHub access token")
    return ApiClient(
        str(settings.get("base_url") or "").strip() or DEFAULT_BASE_URL,
        vendor=VENDOR,
        headers={
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
        },
        sleep=sleep,
        credentials_hint="the access token",
    )


def fetch(
    settings: Mapping[str, Any], credentials: Mapping[str, Any], cursor: Mapping[str, Any], *, sleep: Sleep = time.sleep
) -> Iterator[BacklogPage]:
    """Pages of the repository's issues updated since ``cursor["since"]`` (all of them without it)."""
    repository = _repository(settings)
    since: str | None = cursor.get("since")
    etag = cursor.get("etag") if since and cursor.get("etag_since") == since else None
    path = f"/repos/{repository}/issues"
    base_params = {"state": "all", "sort": "updated", "direction": "asc", "per_page": PAGE_SIZE}
    with _client(settings, credentials, sleep) as client:
        url: str | None = path
        params: dict[str, Any] | None = {**base_params, **({"since": since} if since else {})}
        newest = parse_time(since)
        seen: set[tuple[Any, Any]] = set()  # (number, updated_at) of the page before: the overlap
        first = True
        while url:
            response = client.request(
                "GET", url, params=params, headers={"If-None-Match": etag} if first and etag else None
            )
            assert response is not None
            if response.status_code == 304:
                yield BacklogPage(records=[], cursor=dict(cursor), not_modified=True)
                return
            issues = response.json()
            if not isinstance(issues, list):
                raise ConfigurationError(f"{VENDOR} answered the issue list with something else; check the address.")
            fresh = [issue for issue in issues if (issue.get("number"), issue.get("updated_at")) not in seen]
            records = [_record(repository, issue) for issue in fresh if "pull_request" not in issue]
            seen = {(issue.get("number"), issue.get("updated_at")) for issue in issues}
            page_since = newest
            for issue in issues:
                updated = parse_time(issue.get("updated_at"))
                if updated and (newest is None or updated > newest):
                    newest = updated
            url, params = next_link(response.headers), None
            if url and newest is not None and newest != page_since:
                # Ask again from the newest issue seen rather than for page N+1: an issue updated
                # meanwhile moves to the end and would shift an unseen one onto a page already read.
                # Only when a whole page shares one instant does the Link header lead on.
                url, params = path, {**base_params, "since": iso_z(newest)}
            page_cursor: dict[str, Any] = {"since": iso_z(newest)} if newest else {}
            if first and url is None and since and newest is not None and iso_z(newest) == since:
                # One page, nothing newer than since: this answer stays true until something changes.
                etag_now = response.headers.get("etag")
                if etag_now:
                    page_cursor.update(etag=etag_now, etag_since=since)
            first = False
            yield BacklogPage(records=records, cursor=page_cursor)


def _record(repository: str, issue: Mapping[str, Any]) -> BacklogRecord:
    labels = [str(label.get("name") if isinstance(label, dict) else label) for label in issue.get("labels") or []]
    issue_type = (issue.get("type") or {}).get("name", "") if isinstance(issue.get("type"), dict) else ""
    state = str(issue.get("state") or "open")
    if state == "closed":
        reason = str(issue.get("state_reason") or "")
        states: tuple[str, ...] = (f"closed:{reason}", "closed") if reason else ("closed",)
        shown = f"closed ({reason.replace('_', ' ')})" if reason else "closed"
    else:
        states = (*(f"label:{label}" for label in labels), "open")
        shown = "open"
    return BacklogRecord(
        external_key=f"{repository}#{issue['number']}",
        title=str(issue.get("title") or f"Issue #{issue['number']}"),
        description=str(issue.get("body") or ""),
        kind=kind_guess(issue_type, *labels),
        state=shown,
        states=states,
        url=str(issue.get("html_url") or ""),
        updated_at=parse_time(issue.get("updated_at")),
        closed_at=parse_time(issue.get("closed_at")),
    )


def connection_check(settings: Mapping[str, Any], credentials: Mapping[str, Any], *, sleep: Sleep = time.sleep) -> str:
    repository = _repository(settings)
    with _client(settings, credentials, sleep) as client:
        repo = client.get_json(f"/repos/{repository}")
    name, count = repo.get("full_name") or repository, repo.get("open_issues_count")
    if isinstance(count, int):
        return f"Connected to {name}: {count:,} open issues and pull requests."
    return f"Connected to {name}."


TRACKER = Tracker(
    kind="github",
    label="GitHub Issues",
    vendor=VENDOR,
    fields=FIELDS,
    fetch=fetch,
    test_connection=connection_check,
    default_status_mapping=DEFAULT_STATUS_MAPPING,
)
