"""OpenAI's error object (`{"error": {"message", "type", "param", "code"}}`) and the one mapping from `core`'s
errors to it, so an `openai` SDK client raises the matching exception (`BadRequestError` for 400, ...)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request, WebSocket
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from core.errors import AudioDecodeError, Cancelled, InferenceError, ModelUnavailable, WorkerError


class ApiError(Exception):
    """A refusal with its HTTP status; `param` names the request field at fault, as OpenAI does."""

    def __init__(self, status: int, message: str, *, param: str | None = None, code: str | None = None,
                 kind: str = "invalid_request_error", headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.kind = status, message, param, code, kind
        self.headers = headers or {}

    def body(self) -> dict[str, str | None]:
        return {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}

    def response(self) -> JSONResponse:
        return JSONResponse({"error": self.body()}, status_code=self.status, headers=self.headers)


class WebSocketRefused(Exception):
    """A WebSocket handshake refused before it is accepted; `deny` answers it (registered as the app's handler for
    this exception, since a dependency cannot answer a handshake itself)."""

    def __init__(self, error: ApiError) -> None:
        super().__init__(error.message)
        self.error = error


async def deny(websocket: WebSocket, error: ApiError | WebSocketRefused) -> None:
    """Refuse a handshake with an HTTP response carrying OpenAI's error object (the ASGI denial-response
    extension, which uvicorn has), or, where the server lacks it, by closing before accepting (HTTP 403)."""
    error = error.error if isinstance(error, WebSocketRefused) else error
    try:
        await websocket.send_denial_response(error.response())
    except RuntimeError:
        await websocket.close(code=1008, reason=error.message[:120])


API_PREFIX = "/v1"


def _is_api_path(request: Request) -> bool:
    path = request.scope.get("path", "").removeprefix(request.scope.get("root_path", ""))
    return path == API_PREFIX or path.startswith(API_PREFIX + "/")


def framework_errors(*, api_paths_only: bool) -> dict[Any, Callable[..., Awaitable[Response]]]:
    """The framework's own refusals (an unknown path, a wrong method, a malformed request) as OpenAI's error object.
    `api_paths_only`: on the page's server only paths under /v1 get it; the page's own routes keep the framework's
    answers."""

    async def http_error(request: Request, error: HTTPException) -> Response:
        if api_paths_only and not _is_api_path(request):
            return await http_exception_handler(request, error)
        return ApiError(error.status_code, str(error.detail), code="not_found" if error.status_code == 404
                        else None, headers=dict(error.headers or {})).response()

    async def validation_error(request: Request, error: RequestValidationError) -> Response:
        if api_paths_only and not _is_api_path(request):
            return await request_validation_exception_handler(request, error)
        return ApiError(400, str(error), code="invalid_request").response()

    return {HTTPException: http_error, RequestValidationError: validation_error}


EXCEPTION_HANDLERS = {WebSocketRefused: deny}  # for every app that serves the API's routes
PAGE_EXCEPTION_HANDLERS = {**EXCEPTION_HANDLERS, **framework_errors(api_paths_only=True)}  # APP_MODE=ui
API_EXCEPTION_HANDLERS = {**EXCEPTION_HANDLERS, **framework_errors(api_paths_only=False)}  # APP_MODE=api


class ClientGone(Exception):
    """The client disconnected; its job was cancelled and nothing is sent."""


def from_worker_error(error: WorkerError, fields: dict[str, str] | None = None) -> ApiError:
    """`core`'s error → OpenAI's; `fields` maps our option names back to the request's form fields."""
    param = (fields or {}).get(error.field or "", error.field)
    if isinstance(error, ModelUnavailable) and error.field == "model":
        return ApiError(404, error.message, param="model", code="model_not_found")
    if isinstance(error, AudioDecodeError):  # the upload's size is checked before decoding (413)
        return ApiError(400, error.message, param=param if param != "audio" else "file", code="invalid_file")
    if isinstance(error, InferenceError):
        return ApiError(500, error.message, kind="server_error", code="inference_failed")
    if isinstance(error, Cancelled):
        return ApiError(499, error.message, code="cancelled")
    return ApiError(400, error.message, param=param, code="invalid_value")
