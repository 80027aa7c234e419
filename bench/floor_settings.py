"""The floor: the project's own settings and middleware, but a URLconf holding one bare DRF
view that parses the same JSON body and returns a fixed answer. Served by the same gunicorn
settings, it measures what Django + DRF cost before any of our work."""

from hotcrm_ai.settings import *  # noqa: F403

ROOT_URLCONF = "bench.floor_urls"
