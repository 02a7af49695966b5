"""The Python client of the usage export and ingest APIs.

Its modules are private; the public names are exported from :mod:`creditmeter`
(``from creditmeter import Client``), where ``__all__`` lists them once.
"""
