"""One JSON error shape for every failure: ``{"error": {"code": ..., "message": ...}}``."""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from vidclass.serve.schemas import ErrorBody, ErrorDetail

log = logging.getLogger("vidclass.serve")


class ApiError(Exception):
    """A request the service refuses, with its HTTP status and a message naming the problem."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def detail(self) -> ErrorDetail:
        return ErrorDetail(code=self.code, message=self.message)


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    body = ErrorBody(error=ErrorDetail(code=code, message=message))
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


_HTTP_CODES = {401: "unauthorized", 404: "not_found", 405: "method_not_allowed"}

# Documented answers of the routes that read a video (for /docs).
VIDEO_ERRORS = {
    status: {"model": ErrorBody, "description": description}
    for status, description in (
        (400, "empty upload or malformed request"),
        (403, "path outside the --allow-dir folders"),
        (413, "upload larger than --max-upload-mb"),
        (415, "neither multipart/form-data nor application/json"),
        (422, "not a readable video, or longer than --max-duration"),
        (503, "the job queue is full; retry after Retry-After seconds"),
        (507, "the server's disk is full"),
    )
}
DISK_FULL = "the server has no space left to store this request's files; try again later"


def disk_full(folder: Path) -> ApiError:
    """507 for the client (no host path in it); the folder that filled goes to the server's log."""
    log.error("%s: no space left on its device; a request was refused (507)", folder)
    return ApiError(507, "insufficient_storage", DISK_FULL)


def install_handlers(app: FastAPI) -> None:
    """Answer ApiError, validation errors, HTTP errors and unexpected ones in the one shape."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, error: ApiError) -> JSONResponse:
        return error_response(error.status, error.code, error.message, error.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item.get('loc', ()))}: {item.get('msg', 'invalid')}"
            for item in error.errors()
        )
        return error_response(422, "invalid_request", problems or "invalid request")

    @app.exception_handler(HTTPException)
    async def _http(request: Request, error: HTTPException) -> JSONResponse:
        message = error.detail if isinstance(error.detail, str) else "request refused"
        if error.status_code == 404:
            message = f"{request.url.path}: no such route or resource"
        return error_response(error.status_code, _HTTP_CODES.get(error.status_code, "http_error"), message,
                              dict(error.headers or {}))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(500, "internal", f"internal error ({type(error).__name__}); the server log has details")
