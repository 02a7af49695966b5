"""The document served at ``/openapi.json``: FastAPI's, made true for client generators.

FastAPI documents a ``422 HTTPValidationError`` for every operation with
parameters or a body; this server answers such requests 400 in the one error
shape (web/errors.py), which each operation documents itself. Schemas that a
route refers to without FastAPI knowing the model (a body the route reads
itself, see :func:`~creditmeter.web.models.schema_ref`) are added to the
components here, so that every ``$ref`` resolves within the document.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic.json_schema import models_json_schema

from creditmeter.web.models import REFERENCED_MODELS

COMPONENT_REF = "#/components/schemas/{model}"
#: FastAPI's own schemas of the 422 answer, which this server never gives.
VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")


def install(app: FastAPI) -> None:
    """Serve the corrected document as ``app.openapi()`` (built once, then cached)."""
    fastapi_document = app.openapi

    def document() -> dict[str, Any]:
        if app.openapi_schema is None:
            correct(fastapi_document())  # FastAPI caches what it returns
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = document  # type: ignore[method-assign]


def correct(document: dict[str, Any]) -> None:
    """Drop the 422 answers and add the referenced models' schemas, in place."""
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            operation.get("responses", {}).pop("422", None)
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for name in VALIDATION_SCHEMAS:
        schemas.pop(name, None)
    _, referenced = models_json_schema(
        [(model, "validation") for model in REFERENCED_MODELS.values()],
        by_alias=True,
        ref_template=COMPONENT_REF,
    )
    for name, schema in referenced.get("$defs", {}).items():
        if schemas.setdefault(name, schema) != schema:
            raise ValueError(f"Two different schemas are named {name!r} in the document.")
    document["components"]["schemas"] = dict(sorted(schemas.items()))
