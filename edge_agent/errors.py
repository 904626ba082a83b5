"""One error hierarchy; each class carries the HTTP status it is answered with.

::

    EdgeAgentError (500)
    ├── Forbidden (403)            bad bearer token, a ``sec`` outside ``auth.sections``, a foreign origin
    ├── MisdirectedRequest (421)   a ``Host`` the agent does not answer for (DNS rebinding)
    ├── UnsupportedMediaType (415) a write whose body is not declared JSON
    ├── Conflict (409)             the operation needs something not configured (no upstream)
    ├── ParameterError (422)       unparseable JSON, wrong types, missing fields
    ├── PayloadTooLarge (413)      body over ``server.max_body_bytes``
    ├── NotFound (404)
    ├── RequestTimeout (408)       a request body not received within ``server.body_timeout_s``
    ├── StorageUnavailable (503)   disk full, database locked, read-only file system
    └── BundleInvalid (422)        a bundle failed validation; the active one stays
"""

from __future__ import annotations


class EdgeAgentError(Exception):
    status = 500
    title = "Server error"

    def __init__(self, message: str | None = None, errors: list[str] | None = None) -> None:
        self.errors = errors if errors is not None else ([message] if message else [])
        super().__init__(message or self.title)


class Forbidden(EdgeAgentError):
    status = 403
    title = "Forbidden"


class MisdirectedRequest(EdgeAgentError):
    status = 421
    title = "Misdirected request"


class UnsupportedMediaType(EdgeAgentError):
    status = 415
    title = "Unsupported media type"


class Conflict(EdgeAgentError):
    status = 409
    title = "Conflict"


class ParameterError(EdgeAgentError):
    status = 422
    title = "Parameter error"


class PayloadTooLarge(EdgeAgentError):
    status = 413
    title = "Payload too large"


class NotFound(EdgeAgentError):
    status = 404
    title = "Not found"


class RequestTimeout(EdgeAgentError):
    status = 408
    title = "Request timeout"


class StorageUnavailable(EdgeAgentError):
    status = 503
    title = "Storage unavailable"

    def __init__(self, message: str | None = None, retry_after: int = 5) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class BundleInvalid(EdgeAgentError):
    status = 422
    title = "Bundle invalid"
