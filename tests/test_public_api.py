"""What ``import creditmeter`` offers is a decision, written once in ``__all__``."""

from __future__ import annotations

import inspect
import pickle
import subprocess
import sys

import creditmeter
from creditmeter.client import _exceptions

PUBLIC = {
    "Client",
    "AsyncClient",
    "Export",
    "UsageRow",
    "RateCard",
    "RateRow",
    "RecordResult",
    "VoidResult",
    "CreditmeterError",
    "APIError",
    "AuthenticationError",
    "PermissionDeniedError",
    "InvalidRequestError",
    "RateLimitError",
    "ServerError",
    "APIConnectionError",
    "APITimeoutError",
    "Alert",
    "AlertPeriod",
    "WebhookEndpoint",
    "WebhookDelivery",
    "WebhookAttempt",
    "__version__",
}


def test_all_lists_exactly_the_public_api() -> None:
    assert set(creditmeter.__all__) == PUBLIC
    assert len(creditmeter.__all__) == len(PUBLIC)


def test_every_public_name_is_importable_and_documented() -> None:
    for name in PUBLIC - {"__version__"}:
        value = getattr(creditmeter, name)
        assert inspect.getdoc(value), f"{name} has no docstring"
        assert value.__module__ == "creditmeter", name  # the path users import it from


def test_errors_pickle_and_show_their_public_path() -> None:
    error = creditmeter.RateLimitError("slow down", status_code=429, retry_after=3)
    assert repr(error) == "RateLimitError(status_code=429, code=None)"
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is creditmeter.RateLimitError and str(copy) == "slow down"


def test_exceptions_form_the_documented_hierarchy() -> None:
    c = creditmeter
    parents = {
        c.APIError: c.CreditmeterError,
        c.AuthenticationError: c.APIError,
        c.PermissionDeniedError: c.APIError,
        c.InvalidRequestError: c.APIError,
        c.RateLimitError: c.APIError,
        c.ServerError: c.APIError,
        c.APIConnectionError: c.CreditmeterError,
        c.APITimeoutError: c.APIConnectionError,
    }
    for error, parent in parents.items():
        assert error.__bases__ == (parent,), error
    assert c.CreditmeterError.__bases__ == (Exception,)


def test_the_exceptions_docstring_draws_every_exception() -> None:
    tree = _exceptions.__doc__ or ""
    for name in PUBLIC:
        value = getattr(creditmeter, name)
        if isinstance(value, type) and issubclass(value, Exception):
            assert name in tree, name


def test_importing_creditmeter_loads_the_client_without_the_server_stack() -> None:
    probe = (
        "import sys, creditmeter; "
        "print(' '.join(m for m in ('fastapi', 'starlette', 'sqlalchemy', 'pydantic', 'alembic', "
        "'uvicorn', 'typer', 'pandas', 'creditmeter.store', 'creditmeter.web') "
        "if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == ""
