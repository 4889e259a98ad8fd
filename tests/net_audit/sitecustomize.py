"""Put on PYTHONPATH by tests/test_offline.py: records every attempt by this Python process to resolve or
connect to anything but loopback (a Python audit hook sees them all, even ones a library swallows).

The records go to the file named by WXW_NET_AUDIT, one line each: `event host`."""

import os
import sys

_LOG = os.environ.get("WXW_NET_AUDIT")
_LOOPBACK = {"localhost", "127.0.0.1", "::1", "0.0.0.0", "", None}


def _host(event: str, args: tuple) -> object:
    if event == "socket.getaddrinfo":
        return args[0]
    address = args[1] if len(args) > 1 else None
    return address[0] if isinstance(address, tuple) and address else None


def _hook(event: str, args: tuple) -> None:
    if event not in ("socket.getaddrinfo", "socket.connect", "socket.gethostbyname"):
        return
    host = _host(event, args)
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    if host in _LOOPBACK or (isinstance(host, str) and (host.startswith("127.") or host.startswith("/"))):
        return
    import traceback

    frames = [f"{frame.filename.rsplit('site-packages/', 1)[-1]}:{frame.lineno}"
              for frame in traceback.extract_stack()[-40:-2]]
    with open(_LOG, "a", encoding="utf-8") as log:
        log.write(f"{event} {host} from {' < '.join(reversed(frames))}\n")


if _LOG:
    sys.addaudithook(_hook)
