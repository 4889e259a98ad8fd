"""Every route a running server serves, read from its app object, and the check that each refuses a caller
without credentials (tests/test_route_auth.py).

`record_served_apps()` runs inside the server's process (the test's launcher calls it, then `app.main()`): every
uvicorn server the process starts (Gradio's, the API's, the health port's) has its app's routes written to
`routes-<port>.json` in a folder once the port accepts connections, so the table is what that server serves,
FastAPI's included routers expanded, never a hand-written list.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
import socket
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import httpx

REFUSED = (401, 403)  # what a refusal without credentials answers (Gradio's login check: 401)
_PARAM = re.compile(r"{(\w+)(?::(\w+))?}")


@dataclasses.dataclass(frozen=True, order=True)
class Route:
    method: str  # GET, POST, ... or WEBSOCKET
    path: str  # the template, e.g. /gradio_api/file={path_or_url:path}

    def url_path(self) -> str:
        """The template with a sample value in each parameter (an int converter gets a number)."""
        return _PARAM.sub(lambda match: "1" if match.group(2) == "int" else "x", self.path)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def routes_of(app: Any) -> list[Route]:
    """Every (method, path) of an ASGI app built on Starlette/FastAPI, included routers and mounts expanded."""
    from fastapi.routing import iter_route_contexts
    from starlette.routing import Mount, WebSocketRoute

    found: set[Route] = set()

    def walk(routes: Iterable[Any], prefix: str) -> None:
        for context in iter_route_contexts(list(routes)):
            route = context.original_route
            if isinstance(route, Mount) and route.routes:
                walk(route.routes, prefix + route.path)
            elif isinstance(route, Mount):  # an app without routes (static files, say): any path under it
                found.add(Route("GET", prefix + route.path + "/{path:path}"))
            elif isinstance(route, WebSocketRoute) or type(route).__name__ == "APIWebSocketRoute":
                found.add(Route("WEBSOCKET", prefix + context.path))
            else:
                found.update(Route(method, prefix + context.path) for method in context.methods or ("GET",))

    walk(app.routes, "")
    return sorted(found)


def record_served_apps(folder: Path) -> None:
    """Inside a server process, before it starts: write each uvicorn server's route table once it is serving."""
    import uvicorn

    original = uvicorn.Config.__init__

    def recording(config: Any, app: Any, *args: Any, **kwargs: Any) -> None:
        original(config, app, *args, **kwargs)
        threading.Thread(target=_dump_when_serving, args=(config, folder), daemon=True).start()

    uvicorn.Config.__init__ = recording  # type: ignore[method-assign]


def _dump_when_serving(config: Any, folder: Path) -> None:
    while True:
        with contextlib.suppress(OSError), socket.create_connection((config.host, config.port), timeout=1):
            break
        time.sleep(0.2)
    table = [dataclasses.asdict(route) for route in routes_of(config.app)]
    target = folder / f"routes-{config.port}.json"
    target.with_suffix(".tmp").write_text(json.dumps(table), encoding="utf-8")
    target.with_suffix(".tmp").rename(target)


def served_routes(folder: Path, port: int, timeout_s: float = 60) -> list[Route]:
    """The table `record_served_apps` wrote for `port`."""
    path = folder / f"routes-{port}.json"
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"the server wrote no route table for port {port}")
        time.sleep(0.2)
    return [Route(**entry) for entry in json.loads(path.read_text(encoding="utf-8"))]


def unguarded(base_url: str, routes: Iterable[Route], public: Mapping[Route, str]) -> list[str]:
    """Request every route outside `public` without credentials; those not refused, as "METHOD /path -> status".
    Streams are closed after the status line (Gradio's heartbeat never ends)."""
    answered = []
    with httpx.Client(base_url=base_url, timeout=30) as http:
        for route in routes:
            if route in public:
                continue
            status = _handshake(base_url, route) if route.method == "WEBSOCKET" else _request(http, route)
            if status not in REFUSED:
                answered.append(f"{route} -> {status}")
    return answered


def _request(http: httpx.Client, route: Route) -> int:
    body = {"json": {}} if route.method in ("POST", "PUT", "PATCH", "DELETE") else {}
    with http.stream(route.method, route.url_path(), **body) as response:
        return response.status_code


def _handshake(base_url: str, route: Route) -> int:
    """The handshake's status: 101 when the socket opened (then closed at once)."""
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    try:
        with connect(base_url.replace("http", "ws", 1) + route.url_path(), open_timeout=10):
            return 101
    except InvalidStatus as refused:
        return refused.response.status_code
