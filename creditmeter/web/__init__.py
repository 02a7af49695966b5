"""The HTTP layer: routes, authentication and error mapping. Knows nothing of SQL."""

from creditmeter.web.app import create_app

__all__ = ["create_app"]
