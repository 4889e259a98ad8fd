"""OpenAI's error object (`{"error": {"message", "type", "param", "code"}}`) and the one mapping from `core`'s
errors to it, so an `openai` SDK client raises the matching exception (`BadRequestError` for 400, ...)."""

from __future__ import annotations

from fastapi import WebSocket
from fastapi.responses import JSONResponse

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


EXCEPTION_HANDLERS = {WebSocketRefused: deny}  # for every app that serves the API's routes


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
