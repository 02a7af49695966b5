"""The HTTP layer: routes, authentication and error mapping. Knows nothing of SQL.

The application is built by :func:`creditmeter.web.app.create_app`.
"""
