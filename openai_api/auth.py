"""Who may call the API: one policy (`Access`), decided from the settings once at start-up and checked by a
dependency of the router that holds every API route (`openai_api.routes`), so that a route added there later, a
WebSocket `/v1/realtime` included, is covered without a line of its own.

- `API_KEYS` set: `Authorization: Bearer <key>`, or for a browser's WebSocket (which cannot send headers) the
  subprotocol `openai-insecure-api-key.<key>`, as OpenAI's Realtime API takes it. The page's users are not
  accepted here: with keys, keys alone, as before.
- else `UI_AUTH` set: the page's users by HTTP Basic (`Authorization: Basic base64(user:password)`). There are no
  keys, so a Bearer token is refused. This holds in `APP_MODE=api` too, where no page asks for the login. Beside
  the page (`APP_MODE=ui`), a WebSocket handshake may also come from the signed-in page itself (its Live tab: a
  browser's WebSocket cannot send an Authorization header): Gradio's login cookie is accepted there, and only when
  the handshake's `Origin` is the server's own host, so another site cannot open a socket with a user's cookie.
- neither: open (the start-up log warns when the server is reachable beyond loopback).

A refusal is 401 in OpenAI's error shape with a `WWW-Authenticate` challenge and a message saying how to get in;
a WebSocket handshake gets the same 401 and error object as an HTTP response (`openai_api.errors.deny`).
Secrets are compared in constant time, as digests of equal length with every entry compared, and never logged.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
from collections.abc import Callable
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.requests import HTTPConnection

from core.settings import Settings, is_loopback
from openai_api.errors import ApiError, WebSocketRefused

logger = logging.getLogger(__name__)

REALM = "whisperx-worker"
KEY_SUBPROTOCOL = "openai-insecure-api-key."  # OpenAI's Realtime API: a browser's key as a WebSocket subprotocol
KEYS, PAGE_USERS, OPEN = "API keys", "page users", "open"

_BASIC_HOW = ("send a page user's name and password by HTTP Basic (`Authorization: Basic base64(user:password)`, "
              "a user of UI_AUTH; with the openai SDK, in default_headers), or set API_KEYS on the server to use "
              "API keys instead")


class Access:
    """The API's access policy; FastAPI calls it as a dependency (`Depends(access)`) on HTTP and WebSocket
    routes alike."""

    def __init__(self, *, keys: tuple[str, ...] = (), users: tuple[tuple[str, str], ...] = (),
                 page_session: Callable[[HTTPConnection], str | None] | None = None) -> None:
        self._keys = tuple(_digest(key) for key in keys)
        self._users = () if keys else tuple((_digest(user), _digest(password)) for user, password in users)
        self._page_session = page_session

    @classmethod
    def from_settings(cls, settings: Settings,
                      page_session: Callable[[HTTPConnection], str | None] | None = None) -> Access:
        """`page_session(connection)`: the signed-in page user a connection's cookies belong to (the web page's
        server passes Gradio's lookup), or None."""
        return cls(keys=settings.api_keys, users=settings.ui_auth, page_session=page_session)

    @property
    def policy(self) -> str:
        """`KEYS`, `PAGE_USERS` or `OPEN`."""
        return KEYS if self._keys else PAGE_USERS if self._users else OPEN

    async def __call__(self, connection: HTTPConnection) -> None:
        self.check(connection)

    def check(self, connection: HTTPConnection) -> None:
        """Return when the caller may go on; raise the refusal otherwise (`ApiError` 401 for HTTP; for a WebSocket
        handshake `WebSocketRefused`, which the app's handler answers with the same 401 and error object)."""
        refusal = self.refusal(connection.headers)
        if refusal is None:
            return
        if connection.scope["type"] == "websocket":
            if self._from_signed_in_page(connection):
                return
            raise WebSocketRefused(refusal)
        raise refusal

    def _from_signed_in_page(self, connection: HTTPConnection) -> bool:
        """A handshake from the page itself, signed in: page users are the policy, the page's login cookie names a
        user, and the browser says the socket was opened by a page of this same host (cookies go along with
        cross-site handshakes too: without the Origin check any site could borrow a signed-in user's session)."""
        if self.policy != PAGE_USERS or self._page_session is None:
            return False
        headers = connection.headers
        origin = urlsplit(headers.get("origin", "")).netloc.lower()
        hosts = {headers.get("host", "").lower(), headers.get("x-forwarded-host", "").split(",")[0].strip().lower()}
        return bool(origin) and origin in hosts and self._page_session(connection) is not None

    def refusal(self, headers: Headers) -> ApiError | None:
        """Why a request with these headers is refused, or None when it may go on."""
        if self.policy == OPEN:
            return None
        scheme, _, credentials = headers.get("authorization", "").strip().partition(" ")
        scheme, credentials = scheme.lower(), credentials.strip()
        if self._keys:
            presented = credentials if scheme == "bearer" else _subprotocol_key(headers)
            if presented is not None and _matches(_digest(presented), self._keys):
                return None
            aside = " (the page's users are not accepted while API_KEYS is set)" if scheme == "basic" else ""
            return ApiError(401, "invalid or missing API key: send `Authorization: Bearer <key>` with a key from "
                            f"API_KEYS{aside}", code="invalid_api_key",
                            headers={"WWW-Authenticate": f'Bearer realm="{REALM}"'})
        challenge = {"WWW-Authenticate": f'Basic realm="{REALM}", charset="UTF-8"'}
        if scheme == "basic":
            if self._page_user(credentials):
                return None
            message = "wrong user name or password: " + _BASIC_HOW
        elif scheme == "bearer" or _subprotocol_key(headers) is not None:
            message = "API keys are not accepted: this server has no API_KEYS. To get in, " + _BASIC_HOW
        else:
            message = "this API is behind the web page's login (UI_AUTH): " + _BASIC_HOW
        return ApiError(401, message, code="invalid_credentials", headers=challenge)

    def describe(self, host: str) -> tuple[int, str]:
        """(log level, message) for the start-up log: which policy is in force; never a key or password."""
        if self._keys:
            return logging.INFO, (f"OpenAI-compatible API at /v1: {len(self._keys)} API key(s) required "
                                  "(Authorization: Bearer; API_KEYS)")
        if self._users:
            return logging.INFO, (f"OpenAI-compatible API at /v1: sign-in required as one of the page's "
                                  f"{len(self._users)} user(s) by HTTP Basic (UI_AUTH; no API_KEYS)")
        if not is_loopback(host):
            return logging.WARNING, (f"OpenAI-compatible API at /v1 is OPEN to anyone who can reach {host}: set "
                                     "API_KEYS to require keys (or UI_AUTH for the page's users)")
        return logging.INFO, "OpenAI-compatible API at /v1 without keys (bound to loopback only)"

    def _page_user(self, credentials: str) -> bool:
        try:
            user, sep, password = base64.b64decode(credentials, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return False
        given = (_digest(user), _digest(password))
        matched = False
        for known_user, known_password in self._users:  # no early exit: the time does not say which user
            matched |= hmac.compare_digest(given[0], known_user) & hmac.compare_digest(given[1], known_password)
        return matched and bool(sep)


def log_access(access: Access, host: str) -> None:
    """Say at start-up which policy guards the API; warn when it is open and reachable beyond this machine."""
    level, message = access.describe(host)
    logger.log(level, "%s", message)


def _subprotocol_key(headers: Headers) -> str | None:
    """The key a browser's WebSocket offers as the subprotocol `openai-insecure-api-key.<key>`, if any."""
    for offered in headers.get("sec-websocket-protocol", "").split(","):
        offered = offered.strip()
        if offered.startswith(KEY_SUBPROTOCOL):
            return offered[len(KEY_SUBPROTOCOL):]
    return None


def _matches(given: bytes, known: tuple[bytes, ...]) -> bool:
    matched = False
    for candidate in known:  # no early exit: the time does not depend on which key matched
        matched |= hmac.compare_digest(given, candidate)
    return matched


def _digest(secret: str) -> bytes:
    """Equal-length digests, so comparing them does not reveal a secret's length either."""
    return hashlib.sha256(secret.encode("utf-8")).digest()
