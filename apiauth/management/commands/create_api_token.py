from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from apiauth.models import ApiToken
from apiauth.services import token_create


class Command(BaseCommand):
    help = "Create an API token and print its key alone on the last line (it is shown only once)."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--staff", action="store_true", help="May change the registry.")
        parser.add_argument("--throttle-rate", default="", help="Its own rate limit, e.g. '600/min'.")
        parser.add_argument(
            "--if-first", action="store_true",
            help="Only create it when no token exists yet (used by `make run` on first start).",
        )

    def handle(self, *args, name, staff, if_first, throttle_rate, **options):
        if if_first and ApiToken.objects.exists():
            self.stdout.write("API tokens already exist; create another with: python manage.py create_api_token NAME")
            return
        if ApiToken.objects.filter(name=name).exists():
            raise CommandError(f"A token named {name!r} already exists.")
        try:
            token, key = token_create(name=name, is_staff=staff, throttle_rate=throttle_rate)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        kind = "staff" if token.is_staff else "service"
        self.stdout.write(f"Created {kind} token {name!r}. Send it as 'Authorization: Token <key>'. Key:")
        self.stdout.write(key)
