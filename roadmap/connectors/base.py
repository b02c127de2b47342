"""What every backlog connector shares: the record it yields, the page, the status mapping.

A library: no ORM, no Django settings. ``roadmap.sync`` drives a tracker's ``fetch`` and stores
what it yields. HTTP goes through ``tickets.connectors.base.ApiClient`` (retries, rate limits,
readable refusals), the same client the help-desk connectors use.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from tickets.connectors.base import ConfigurationError, SettingField, Sleep

# Our statuses, as roadmap.models.BacklogItemStatus spells them (kept here so this stays ORM-free).
STATUSES = ("idea", "planned", "in_progress", "shipped", "wont_do")
KINDS = ("feature", "bug", "docs")


@dataclass(frozen=True)
class BacklogRecord:
    """One tracker issue, normalised.

    ``states`` are the keys a status mapping is looked up by, most specific first (a status name,
    then a resolution, then the state's category); ``state`` is how the tracker shows it.
    ``closed_at`` is when it was closed or resolved, the shipped time when it maps to shipped.
    """

    external_key: str
    title: str
    description: str
    kind: str
    state: str
    states: tuple[str, ...]
    url: str
    updated_at: datetime | None
    closed_at: datetime | None = None


@dataclass
class BacklogPage:
    """Records to store, then the cursor that is true once they are stored.

    ``not_modified`` says the tracker answered "nothing changed" (an HTTP 304) without records.
    """

    records: list[BacklogRecord]
    cursor: dict[str, Any]
    not_modified: bool = False
    total: int | None = None


class FetchFunction(Protocol):
    def __call__(
        self, settings: Mapping[str, Any], credentials: Mapping[str, Any], cursor: Mapping[str, Any], *, sleep: Sleep
    ) -> Iterator[BacklogPage]: ...


class TestConnectionFunction(Protocol):
    def __call__(self, settings: Mapping[str, Any], credentials: Mapping[str, Any], *, sleep: Sleep) -> str: ...


@dataclass(frozen=True)
class Tracker:
    """An issue tracker: its settings, its default status mapping, and what a sync needs from it."""

    kind: str
    label: str
    vendor: str  # as history notes name it: "synced from GitHub"
    fields: tuple[SettingField, ...]
    fetch: FetchFunction
    test_connection: TestConnectionFunction
    default_status_mapping: Mapping[str, str] = field(default_factory=dict)

    @property
    def secret_keys(self) -> frozenset[str]:
        return frozenset(f.key for f in self.fields if f.secret)


def status_mapping_valid(mapping: Mapping[str, Any]) -> dict[str, str]:
    """The mapping with normalised keys; ``ConfigurationError`` names any value that is not our status."""
    cleaned: dict[str, str] = {}
    for key, value in mapping.items():
        status = str(value).strip().lower().replace(" ", "_").replace("'", "")
        if status == "won_t_do":
            status = "wont_do"
        if status not in STATUSES:
            raise ConfigurationError(
                f"The status mapping sends {key!r} to {value!r}, which is not one of {', '.join(STATUSES)}."
            )
        cleaned[_key(str(key))] = status
    return cleaned


def status_for(record: BacklogRecord, defaults: Mapping[str, str], overrides: Mapping[str, str]) -> str:
    """Our status for the record: the first of its ``states`` the source's mapping (then the
    tracker's defaults) knows; an unknown state is an idea."""
    mapping = {**status_mapping_valid(defaults), **status_mapping_valid(overrides)}
    for state in record.states:
        status = mapping.get(_key(state))
        if status:
            return status
    return "idea"


def kind_guess(*names: str) -> str:
    """bug / docs / feature from an issue type and label names."""
    words = " ".join(name.lower() for name in names if name)
    if re.search(r"\b(bugs?|defects?|regressions?|incidents?)\b", words):
        return "bug"
    if re.search(r"\b(docs?|documentation)\b", words):
        return "docs"
    return "feature"


def _key(state: str) -> str:
    return " ".join(state.lower().split())
