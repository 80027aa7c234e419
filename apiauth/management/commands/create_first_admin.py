import os

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from apiauth.services import first_admin_create


class Command(BaseCommand):
    help = ("Create the superuser 'admin' when there is no superuser yet (used by `make run` on first "
            "start): its password is DJANGO_SUPERUSER_PASSWORD when set, else a random one printed "
            "once here and never again.")

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")

    def handle(self, *args, username, **options):
        given = os.environ.get("DJANGO_SUPERUSER_PASSWORD", "")
        try:
            created = first_admin_create(username=username, password=given)
        except ValidationError as exc:
            raise CommandError("DJANGO_SUPERUSER_PASSWORD: " + " ".join(exc.messages)) from None
        if created is None:
            self.stdout.write("A superuser exists; sign in at /dashboard/ or /admin/ (another: manage.py createsuperuser).")
            return
        user, password = created
        if given:
            self.stdout.write(f"Created superuser {user.get_username()!r} with DJANGO_SUPERUSER_PASSWORD; "
                              "sign in at /dashboard/ or /admin/.")
            return
        # Written to the console only, never to a log: it is not shown again.
        self.stdout.write(f"Created superuser {user.get_username()!r}; sign in at /dashboard/ or /admin/ with "
                          "this password (shown only now; change it in the admin):")
        self.stdout.write(password)
