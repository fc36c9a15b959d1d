"""The public contract, enforced: requests validated by its schemas, and served as OpenAPI.

- :class:`Contract` parses contracts/openapi/gateway.v1.yaml into :class:`Operation`s.
- :class:`RequestValidator` (a FastAPI dependency) validates a request against one operation.
- :func:`served_document` renders the OpenAPI document from the mounted routes' validators.
"""

from gateway.adapters.openapi._contract import (
    Body,
    Contract,
    Operation,
    Parameter,
    find_contract,
)
from gateway.adapters.openapi._document import find_validator, served_document
from gateway.adapters.openapi._request import RequestValidator, ValidRequest
from gateway.adapters.openapi._schema import SchemaCompileError, SchemaValidator, compile_schema

__all__ = [
    "Body",
    "Contract",
    "Operation",
    "Parameter",
    "RequestValidator",
    "SchemaCompileError",
    "SchemaValidator",
    "ValidRequest",
    "compile_schema",
    "find_contract",
    "find_validator",
    "served_document",
]
