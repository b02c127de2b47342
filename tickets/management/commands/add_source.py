"""``manage.py add_source NAME --kind KIND --set KEY=VALUE ...``: create or update a source for scripted set-up."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tickets.connectors.base import ConnectorError, SettingField
from tickets.connectors.registry import MODULES, connector_for
from tickets.models import Source, SourceKind
from tickets.services import source_configure

# Kinds without a connector module: keys whose name says they are secret are encrypted all the same.
SECRET_WORDS = ("password", "token", "secret", "api_key", "apikey", "client_secret")


class Command(BaseCommand):
    help = (
        "Create a source, or update the one with this name: each --set KEY=VALUE is stored in its settings, "
        "or encrypted with its credentials when the key is a secret (API tokens, passwords). An empty VALUE "
        "removes the key. Secrets are never printed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="the source's name")
        parser.add_argument("--kind", required=True, choices=SourceKind.values, help="the kind of source")
        parser.add_argument(
            "--set", dest="values", action="append", default=[], metavar="KEY=VALUE", help="a setting or secret"
        )
        parser.add_argument("--every", type=int, default=None, metavar="MINUTES", help="sync every N minutes (0: off)")
        state = parser.add_mutually_exclusive_group()
        state.add_argument("--enable", dest="enabled", action="store_true", default=None)
        state.add_argument("--disable", dest="enabled", action="store_false")

    def handle(self, *args: Any, **options: Any) -> None:
        name, kind = options["name"].strip(), options["kind"]
        limit = Source._meta.get_field("name").max_length or 100
        if not name or len(name) > limit:
            raise CommandError(f"NAME must be 1 to {limit} characters")
        if options["every"] is not None and options["every"] < 0:
            raise CommandError("--every must be 0 (no schedule) or a number of minutes")
        fields = _fields(kind)
        settings_update: dict[str, str] = {}
        secrets_update: dict[str, str] = {}
        for item in options["values"]:
            key, sep, value = item.partition("=")
            key = key.strip()
            if not sep or not key:
                raise CommandError(f"--set {item.split('=')[0]!r}: expected KEY=VALUE")
            if fields is not None and key not in fields:
                raise CommandError(f"{kind} sources have no setting {key!r}; they have: {', '.join(fields)}")
            secret = fields[key].secret if fields is not None else any(word in key.lower() for word in SECRET_WORDS)
            (secrets_update if secret else settings_update)[key] = value.strip()
        try:
            source, created = source_configure(
                name=name,
                kind=kind,
                settings_update=settings_update,
                secrets_update=secrets_update,
                sync_interval_minutes=options["every"],
                enabled=options["enabled"],
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self._report(source, created, secrets_update, fields)

    def _report(
        self, source: Source, created: bool, secrets_update: dict[str, str], fields: dict[str, SettingField] | None
    ) -> None:
        self.stdout.write(f"{'Created' if created else 'Updated'} source {source.name!r} ({source.get_kind_display()})")
        if source.settings:
            shown = ", ".join(f"{key}={value}" for key, value in sorted(source.settings.items()))
            self.stdout.write(f"settings: {shown}")
        if secrets_update:
            self.stdout.write(f"stored encrypted: {', '.join(sorted(secrets_update))}")
        schedule = f"every {source.sync_interval_minutes} minutes" if source.sync_interval_minutes else "no schedule"
        self.stdout.write(f"{'enabled' if source.enabled else 'disabled'}, {schedule}")
        if fields is not None:
            from tickets.crypto import secrets_decrypt

            have = set(source.settings) | set(secrets_decrypt(source.credentials_encrypted))
            missing = [f.key for f in fields.values() if f.required and f.key not in have]
            if missing:
                self.stdout.write(f"still missing before it can sync: {', '.join(missing)}")


def _fields(kind: str) -> dict[str, SettingField] | None:
    if kind not in MODULES:
        return None
    try:
        return {f.key: f for f in connector_for(kind).fields}
    except (ConnectorError, ModuleNotFoundError):
        return None
