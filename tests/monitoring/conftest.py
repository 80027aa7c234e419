# The providers' loopback server, for the remote models of the drift tests.
from tests.predictions.providers.conftest import local_server, server  # noqa: F401
