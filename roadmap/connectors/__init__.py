"""Issue-tracker connectors for the backlog (GitHub Issues, Jira Cloud, Linear): pure, no ORM."""

from __future__ import annotations

from importlib import import_module

from roadmap.connectors.base import Tracker
from tickets.connectors.base import ConfigurationError

# BacklogSource kind -> module under roadmap.connectors with a ``TRACKER``.
MODULES = {"github": "github", "jira": "jira", "linear": "linear"}


def tracker_for(kind: str) -> Tracker:
    module = MODULES.get(kind)
    if module is None:
        raise ConfigurationError(f"There is no tracker connector for {kind!r}.")
    tracker = import_module(f"roadmap.connectors.{module}").TRACKER
    assert isinstance(tracker, Tracker)
    return tracker
