from __future__ import annotations

from django.apps import AppConfig


class TicketsConfig(AppConfig):
    name = "tickets"
    verbose_name = "Tickets"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from tickets.access import roles_sync

        # Groups and their permissions follow the code on every migrate, so a new permission
        # reaches existing installs without a hand-written data migration.
        post_migrate.connect(
            lambda **kwargs: roles_sync(), sender=self, dispatch_uid="tickets.roles_sync", weak=False
        )
