from tests.faults.conftest import builtin_fixture, secret_key  # noqa: F401  the same fixtures
