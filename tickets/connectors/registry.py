"""The help-desk connectors by source kind. Imported lazily so a kind's module loads only when used."""

from __future__ import annotations

from importlib import import_module

from tickets.connectors.base import ConfigurationError, Connector

# Source kind -> module under tickets.connectors with a ``CONNECTOR``.
MODULES = {
    "zendesk": "zendesk",
    "intercom": "intercom",
    "freshdesk": "freshdesk",
    "helpscout": "helpscout",
    "zammad": "zammad",
    "imap": "imap",
}


def connector_for(kind: str) -> Connector:
    """The connector of a source kind; ``ConfigurationError`` for kinds that are not pulled over HTTP."""
    module = MODULES.get(kind)
    if module is None:
        raise ConfigurationError(f"Sources of kind {kind!r} are not synced from a help desk's API.")
    connector = import_module(f"tickets.connectors.{module}").CONNECTOR
    assert isinstance(connector, Connector)
    return connector


def syncable_kinds() -> list[str]:
    """Kinds with a connector module in this build."""
    available = []
    for kind, module in MODULES.items():
        try:
            import_module(f"tickets.connectors.{module}")
        except ModuleNotFoundError:
            continue
        available.append(kind)
    return available
