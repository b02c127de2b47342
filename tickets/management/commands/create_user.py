from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from rest_framework.authtoken.models import Token

from tickets.access import Role
from tickets.services import user_create


class Command(BaseCommand):
    help = "Create a user with a role (or change an existing user's role) and print the password."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email")
        parser.add_argument("--role", required=True, choices=[role.value for role in Role])
        parser.add_argument("--password", help="default: a random password, printed once")
        parser.add_argument("--name", default="", help="full name")
        parser.add_argument("--token", action="store_true", help="also print an API token")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            user, password = user_create(
                email=options["email"], role=Role(options["role"]), password=options["password"], name=options["name"]
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self.stdout.write(f"{user.email} is now {Role(options['role']).label}.")
        if password and not options["password"]:
            self.stdout.write(f"Password: {password}")
        if options["token"]:
            token, _ = Token.objects.get_or_create(user=user)
            self.stdout.write(f"API token: {token.key}")
