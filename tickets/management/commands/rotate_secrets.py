"""Re-encrypt every stored connector secret with the newest key of ``THREADLINE_ENCRYPTION_KEYS``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from roadmap.models import BacklogSource
from tickets.crypto import SecretsUnreadable, secrets_reencrypt
from tickets.models import Source


class Command(BaseCommand):
    help = (
        "Encrypt every help-desk and tracker secret again with the newest key. Rotate a key by putting "
        "the new one first in THREADLINE_ENCRYPTION_KEYS, running this, then removing the old key."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        rotated = 0
        with transaction.atomic():
            for model in (Source, BacklogSource):
                for row in model.objects.select_for_update().exclude(credentials_encrypted=""):
                    try:
                        row.credentials_encrypted = secrets_reencrypt(row.credentials_encrypted)
                    except SecretsUnreadable:
                        raise CommandError(
                            f"the secrets of {model._meta.verbose_name} {row.name!r} cannot be decrypted with "
                            "any configured key; nothing was changed"
                        ) from None
                    row.save(update_fields=["credentials_encrypted"])
                    rotated += 1
        plural = "s" if rotated != 1 else ""
        self.stdout.write(f"Re-encrypted the secrets of {rotated} source{plural} with the newest key.")
