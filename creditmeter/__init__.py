"""creditmeter: usage metering and usage export for API platforms that bill in credits.

The public API is the Python client, listed once in ``__all__``::

    from creditmeter import Client

    with Client() as client:  # $CREDITMETER_URL and $CREDITMETER_API_KEY
        client.export(group_by="file_type").to_csv("usage.csv")

Importing it loads the client alone (httpx), never the server's stack.
"""

from creditmeter._version import __version__
from creditmeter.client._alerts import (
    Alert,
    AlertPeriod,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from creditmeter.client._async import AsyncClient
from creditmeter.client._client import Client
from creditmeter.client._exceptions import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    CreditmeterError,
    InvalidRequestError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
)
from creditmeter.client._models import Export, RecordResult, UsageRow, VoidResult
from creditmeter.client._rates import RateCard, RateRow

__all__ = [
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "Alert",
    "AlertPeriod",
    "AsyncClient",
    "AuthenticationError",
    "Client",
    "CreditmeterError",
    "Export",
    "InvalidRequestError",
    "PermissionDeniedError",
    "RateCard",
    "RateLimitError",
    "RateRow",
    "RecordResult",
    "ServerError",
    "UsageRow",
    "VoidResult",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "__version__",
]

# Reprs, tracebacks and pickles name the public path (``creditmeter.Client``), as httpx does.
for _name in __all__:
    if not _name.startswith("__"):
        globals()[_name].__module__ = "creditmeter"
del _name
