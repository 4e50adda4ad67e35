"""The protocol's errors and the error object every failure is answered with."""

from __future__ import annotations

from typing import Any, ClassVar

from customers import db
from customers.errors import CustomersError, ValidationFailed
from customers.models import JsonObject
from service import deps

INTERNAL_ERROR = -32603


class RpcError(Exception):
    """An error of the JSON-RPC layer itself, with its fixed code and class name."""

    code: ClassVar[int] = INTERNAL_ERROR
    type_name: ClassVar[str] = "InternalError"
    service_code: ClassVar[str] = "INTERNAL_ERROR"

    def __init__(self, message: str, **data: Any) -> None:
        super().__init__(message)
        self.message = message
        self.data = data


class ParseError(RpcError):
    code, type_name, service_code = -32700, "JSONParseError", "PARSE_ERROR"


class InvalidRequest(RpcError):
    code, type_name, service_code = -32600, "InvalidRequest", "INVALID_REQUEST"


class MethodNotFound(RpcError):
    code, type_name, service_code = -32601, "MethodNotFound", "METHOD_NOT_FOUND"


class InvalidParams(RpcError):
    code, type_name, service_code = -32602, "InvalidParams", "INVALID_PARAMS"


class CallTimeout(CustomersError):
    """The call did not finish within the caller's `Timeout` header."""

    code = "TIMEOUT"
    status = 504


# HTTP-like status of a service error → (error code, class name) in the error object. The class
# names are those of the original service's error registry (kaiju's): its clients raise the
# class `data.type` names, and a name they do not know becomes a generic error on their side.
_BY_STATUS: dict[int, tuple[int, str]] = {
    400: (400, "ClientError"),
    401: (-32000, "NotAuthorized"),
    404: (404, "NotFound"),
    409: (409, "Conflict"),
    422: (-32702, "ModelValidationError"),
    503: (503, "InternalError"),
    504: (-32002, "RequestTimeout"),
}
# A method beyond the caller's role is answered as the original did: as if it did not exist
# (its clients catch it as PermissionDenied, their alias of MethodNotFound).
_FORBIDDEN = (-32601, "MethodNotFound")
_CLIENT_CODES = frozenset({-32700, -32600, -32601, -32602, -32702, -32000, -32002})


def _base_type(code: int) -> str:
    return "ClientError" if code in _CLIENT_CODES or 400 <= code < 500 else "InternalError"


def error_object(exc: BaseException) -> JsonObject:
    """The `error` member for any exception: always code, message and an object `data`."""
    exc = db.translate(exc)
    if isinstance(exc, RpcError):
        code, type_name, message = exc.code, exc.type_name, exc.message
        data: JsonObject = {**exc.data, "code": exc.service_code}
    elif isinstance(exc, deps.Forbidden):
        (code, type_name), message = _FORBIDDEN, str(exc)
        data = {"code": "FORBIDDEN"}
    elif isinstance(exc, CustomersError):
        code, type_name = _BY_STATUS.get(exc.status, (exc.status, "InternalError"))
        message = exc.message
        data = {**exc.details, "code": exc.code}
        if isinstance(exc, ValidationFailed):
            data["errors"] = [e.to_dict() for e in exc.errors]
        elif code == -32702 and "field" in exc.details:
            data["errors"] = [{"field": exc.details["field"], "code": exc.code, "message": exc.message}]
    else:
        code, type_name, message = INTERNAL_ERROR, "InternalError", "Internal error"
        data = {"code": "INTERNAL_ERROR"}
    data["type"] = type_name
    data["base_type"] = _base_type(code)
    return {"code": code, "message": message, "data": data}
