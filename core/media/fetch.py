"""Turn a request's audio source (http(s) URL, `data:` URI or base64) into a local file, safely.

A worker that fetches URLs for strangers is an SSRF risk and a disk/memory sink, so every source goes through
the same guards: http(s) only; loopback, private, link-local, multicast, reserved and cloud-metadata addresses
refused after DNS resolution and again after every redirect (the connection goes to the address that was
checked, so a second DNS answer cannot swap it), IPv6 forms that embed an IPv4 address (mapped, 6to4, NAT64,
Teredo) checked for what they embed; a connect timeout, a stall timeout and one total deadline that covers the
response headers as well as the body; one size cap on the declared length, while streaming and on decoded
base64. Files live in a per-job directory removed when the job ends.

Nothing here knows about RunPod or Gradio: which request field takes which kinds of source (URL, `data:` URI,
raw base64) is the front end's choice, passed as `accept`.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import dataclasses
import http.client
import ipaddress
import logging
import mimetypes
import re
import shutil
import socket
import ssl
import tempfile
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from core.errors import Cancelled, InvalidInput
from core.media.decode import describe_size

logger = logging.getLogger(__name__)

SOURCE_KINDS = ("url", "data", "base64")  # http(s) URL, data: URI, raw base64
ALLOWED_SCHEMES = ("http", "https")
MAX_REDIRECTS = 5
CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 30.0  # the longest silence between two packets
TOTAL_TIMEOUT_S = 180.0  # the whole download, headers included (Settings.download_timeout_s overrides it)
CHUNK_BYTES = 1 << 20
JOB_DIR_PREFIX = "wxw-job-"
USER_AGENT = "whisperx-worker/0.1 (+media fetch)"
# Cloud instance-metadata endpoints stay refused even when ALLOW_PRIVATE_URLS=1 (that switch is for tests).
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "169.254.170.2", "100.100.100.200", "fd00:ec2::254")
)
# IPv6 prefixes that reach IPv4 hosts through a translator or tunnel: NAT64 (well-known and local-use) and Teredo.
# A URL on them could reach a private IPv4 address, so they are refused outright (there is no need to fetch
# public media through them).
TRANSITION_NETWORKS = tuple(ipaddress.ip_network(n) for n in ("64:ff9b::/96", "64:ff9b:1::/48", "2001::/32"))
_REDIRECT_STATUSES = {301, 302, 303, 307, 308}
_SCHEME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_SUFFIX_RE = re.compile(r"^\.[a-z0-9]{1,5}$")
_SNIFFERS = (  # (offset, magic bytes, suffix): enough for soundfile vs ffmpeg and a readable name
    (0, b"fLaC", ".flac"),
    (0, b"OggS", ".ogg"),
    (0, b"ID3", ".mp3"),
    (0, b"\x1a\x45\xdf\xa3", ".webm"),
    (4, b"ftyp", ".mp4"),
    (0, b"#!AMR", ".amr"),
)


@dataclasses.dataclass(frozen=True)
class Limits:
    """How much one source may cost: bytes and seconds."""

    max_bytes: int
    allow_private: bool = False
    connect_timeout_s: float = CONNECT_TIMEOUT_S
    read_timeout_s: float = READ_TIMEOUT_S
    total_timeout_s: float = TOTAL_TIMEOUT_S


@dataclasses.dataclass(frozen=True)
class MediaFile:
    """A fetched source: where it is on disk and a display name (for result file names / RTTM uri)."""

    path: Path
    name: str


@contextlib.contextmanager
def job_directory() -> Iterator[Path]:
    """A private temporary directory for one job, removed on exit whatever happened."""
    path = Path(tempfile.mkdtemp(prefix=JOB_DIR_PREFIX))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def fetch_source(field: str, value: str, directory: Path, limits: Limits, *,
                 accept: tuple[str, ...] = SOURCE_KINDS, stem: str = "input", hint: str = "",
                 cancel: threading.Event | None = None) -> MediaFile:
    """Materialise one source `value` into `directory` as `stem` + suffix; `accept` says which kinds of
    `SOURCE_KINDS` the field takes. `InvalidInput` naming `field` on any refusal (`hint` is appended to the
    message when the kind is not accepted, e.g. which other field takes it). Setting `cancel` stops a download
    at its next chunk (`Cancelled`)."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{field} must be a non-empty string", field=field)
    value = value.strip()
    kind = "data" if value[:5].lower() == "data:" else "url" if _SCHEME_RE.match(value) else "base64"
    if kind == "url" and "url" not in accept and "base64" in accept:
        kind = "base64"  # e.g. "abc:def" in a base64-only field: let the base64 check explain what is wrong
    if kind not in accept:
        names = {"url": "an http(s) URL", "data": "a data: URI", "base64": "base64"}
        raise InvalidInput(f"{field} must be {' or '.join(names[k] for k in accept)}" + (f"; {hint}" if hint else ""),
                           field=field)
    if kind == "data":
        return _save(directory, *decode_data_uri(field, value, limits.max_bytes), stem=stem, name="audio")
    if kind == "url":
        return download(field, value, directory, limits, stem=stem, cancel=cancel)
    data = decode_base64(field, value, limits.max_bytes)
    return _save(directory, data, sniff_suffix(data), stem=stem, name="audio")


# ---- base64 and data: URIs -----------------------------------------------------------------------
def decode_base64(field: str, text: str, max_bytes: int) -> bytes:
    """Standard or URL-safe base64, whitespace and missing padding tolerated; the cap checked before decoding."""
    compact = re.sub(r"\s+", "", text)
    if not compact:
        raise InvalidInput(f"{field} is empty", field=field)
    estimated = len(compact) * 3 // 4
    if estimated > max_bytes + 3:
        raise InvalidInput(
            f"{field}: the decoded data is about {describe_size(estimated)}, over the limit of "
            f"{describe_size(max_bytes)} (MAX_UPLOAD_MB)", field=field)
    compact = compact.rstrip("=")
    compact += "=" * (-len(compact) % 4)
    altchars = b"-_" if ("-" in compact or "_" in compact) else None
    try:
        data = base64.b64decode(compact, altchars=altchars, validate=True)
    except (binascii.Error, ValueError) as error:
        raise InvalidInput(f"{field} is not valid base64 ({error})", field=field) from None
    if not data:
        raise InvalidInput(f"{field} decodes to no bytes", field=field)
    if len(data) > max_bytes:
        raise InvalidInput(
            f"{field}: the decoded data is {describe_size(len(data))}, over the limit of "
            f"{describe_size(max_bytes)} (MAX_UPLOAD_MB)", field=field)
    return data


def decode_data_uri(field: str, uri: str, max_bytes: int) -> tuple[bytes, str]:
    """`data:[mime][;base64],payload` → (bytes, file suffix)."""
    header, comma, payload = uri[5:].partition(",")
    if not comma:
        raise InvalidInput(f"{field}: malformed data: URI (no comma before the payload)", field=field)
    parts = [part.strip().lower() for part in header.split(";")]
    mime = parts[0] if parts and "/" in parts[0] else ""
    if "base64" in parts[1:]:
        data = decode_base64(field, urllib.parse.unquote(payload), max_bytes)
    else:
        data = urllib.parse.unquote_to_bytes(payload)
        if not data:
            raise InvalidInput(f"{field}: the data: URI has no payload", field=field)
        if len(data) > max_bytes:
            raise InvalidInput(f"{field}: the data is {describe_size(len(data))}, over the limit of "
                               f"{describe_size(max_bytes)} (MAX_UPLOAD_MB)", field=field)
    return data, suffix_for_mime(mime) or sniff_suffix(data)


# ---- suffixes ------------------------------------------------------------------------------------
def suffix_for_mime(mime: str) -> str | None:
    """A file suffix for a media type, or None when it says nothing useful."""
    mime = mime.split(";")[0].strip().lower()
    if not mime or mime in ("application/octet-stream", "binary/octet-stream"):
        return None
    special = {"audio/mpeg": ".mp3", "audio/mp3": ".mp3", "audio/wav": ".wav", "audio/x-wav": ".wav",
               "audio/wave": ".wav", "audio/ogg": ".ogg", "audio/opus": ".ogg", "audio/flac": ".flac",
               "audio/x-flac": ".flac", "audio/mp4": ".m4a", "audio/x-m4a": ".m4a", "audio/aac": ".aac",
               "audio/webm": ".webm", "video/webm": ".webm", "video/mp4": ".mp4", "video/quicktime": ".mov"}
    suffix = special.get(mime) or mimetypes.guess_extension(mime)
    return suffix if suffix and _SUFFIX_RE.match(suffix) else None


def sniff_suffix(data: bytes) -> str:
    """Guess a suffix from magic bytes; `.bin` lets ffmpeg probe the content itself."""
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return ".wav"
    if data[:4] == b"FORM" and data[8:12] in (b"AIFF", b"AIFC"):
        return ".aiff"
    for offset, magic, suffix in _SNIFFERS:
        if data[offset: offset + len(magic)] == magic:
            return suffix
    if len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0:
        return ".mp3"
    return ".bin"


def _url_suffix(path: str) -> str | None:
    suffix = PurePosixPath(urllib.parse.unquote(path)).suffix.lower()
    return suffix if _SUFFIX_RE.match(suffix) else None


def _save(directory: Path, data: bytes, suffix: str, *, stem: str, name: str) -> MediaFile:
    path = directory / f"{stem}{suffix}"
    path.write_bytes(data)
    return MediaFile(path, name)


# ---- URLs ----------------------------------------------------------------------------------------
URL_SAFE_CHARACTERS = "!#$%&'()*+,/:;=?@[]~"  # left as they are when a request target is percent-encoded (requests')


def redact_url(url: str) -> str:
    """scheme://host/path only: query strings of presigned URLs carry credentials."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "the URL (not a valid URL)"
    host = parts.hostname or ""
    port = f":{parts.port}" if _safe_port(parts) else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def _safe_port(parts: urllib.parse.SplitResult) -> int | None:
    try:
        return parts.port
    except ValueError:
        return None


def check_address(ip: str, *, allow_private: bool) -> None:
    """Raise ValueError when connecting to `ip` could reach something that is not the public internet."""
    address = ipaddress.ip_address(ip.split("%", 1)[0])
    embedded = getattr(address, "ipv4_mapped", None) or getattr(address, "sixtofour", None)
    transition = next((net for net in TRANSITION_NETWORKS if address in net), None)
    if transition is not None:
        inner = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if inner in METADATA_ADDRESSES:
            raise ValueError(f"{address} embeds {inner}, a cloud metadata address")
        raise ValueError(f"{address} is an IPv6 transition address ({transition}: NAT64 or Teredo) that can reach "
                         "private IPv4 hosts")
    for candidate in (address, embedded):
        if candidate is None:
            continue
        if candidate in METADATA_ADDRESSES:
            raise ValueError(f"{candidate} is a cloud metadata address")
        if allow_private:
            continue
        if candidate.is_multicast or candidate.is_unspecified or not candidate.is_global:
            raise ValueError(f"{candidate} is a loopback, private, link-local, multicast or reserved address")


def resolve(host: str, port: int) -> list[str]:
    """All addresses `host` resolves to (a separate function so tests can pin DNS answers)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _checked_address(field: str, url: str, host: str, port: int, allow_private: bool) -> str:
    """Resolve and vet every answer: one bad answer refuses the URL, so no retry can land on it."""
    try:
        addresses = resolve(host, port)
    except (socket.gaierror, UnicodeError) as error:
        raise InvalidInput(f"{field}: cannot resolve host {host!r} ({error})", field=field) from None
    if not addresses:
        raise InvalidInput(f"{field}: host {host!r} has no address", field=field)
    for address in addresses:
        try:
            check_address(address, allow_private=allow_private)
        except ValueError as refusal:
            raise InvalidInput(f"{field}: refused {redact_url(url)}: host {host!r} resolves to {refusal}; only "
                               "public internet addresses are fetched", field=field) from None
    return addresses[0]


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to an already-vetted IP while sending the URL's Host header."""

    def __init__(self, host: str, port: int, *, address: str, connect_timeout_s: float, read_timeout_s: float):
        super().__init__(host, port, timeout=connect_timeout_s)
        self._address, self._read_timeout_s = address, read_timeout_s

    def _open_socket(self) -> socket.socket:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        sock.settimeout(self._read_timeout_s)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def connect(self) -> None:
        self.sock = self._open_socket()


class _PinnedHTTPSConnection(_PinnedHTTPConnection):
    """TLS to the vetted IP, with SNI and certificate checks against the URL's host name."""

    default_port = http.client.HTTPS_PORT

    def connect(self) -> None:
        context = ssl.create_default_context()
        self.sock = context.wrap_socket(self._open_socket(), server_hostname=self.host)


def download(field: str, url: str, directory: Path, limits: Limits, *, stem: str = "download",
             cancel: threading.Event | None = None) -> MediaFile:
    """GET `url` into `directory`, following at most MAX_REDIRECTS redirects, each hop re-vetted. One deadline
    covers every hop, the headers and the body: a server that trickles bytes cannot hold the job. Setting
    `cancel` stops the body at the next chunk (`Cancelled`; the partial file is removed)."""
    deadline = _Deadline(limits.total_timeout_s)
    original = url
    try:
        for hop in range(MAX_REDIRECTS + 1):
            parts = _parse_url(field, url, redirected=hop > 0)
            connection = _connect(field, url, parts, limits)
            deadline.watch(connection)
            try:
                response = _request(field, url, connection, parts, limits)
                if response.status in _REDIRECT_STATUSES:
                    location = response.getheader("Location")
                    if not location:
                        raise InvalidInput(f"{field}: {redact_url(url)} redirected without a Location", field=field)
                    url = urllib.parse.urljoin(url, location.strip())
                    continue
                if response.status != 200:
                    raise InvalidInput(f"{field}: download failed: HTTP {response.status} {response.reason} from "
                                       f"{redact_url(url)}", field=field)
                media = _stream_to_file(field, url, response, directory, limits, deadline, stem, cancel)
                if deadline.expired:  # the watchdog cut the body short: what arrived is not the file
                    media.path.unlink(missing_ok=True)
                    raise deadline.error(field, url)
                return media
            finally:
                deadline.watch(None)
                connection.close()
    except InvalidInput:
        if deadline.expired:
            raise deadline.error(field, url) from None
        raise
    finally:
        deadline.cancel()
    raise InvalidInput(f"{field}: too many redirects (more than {MAX_REDIRECTS}) from {redact_url(original)}",
                       field=field)


class _Deadline:
    """The download's total time limit. A timer shuts the watched connection's socket when it runs out, so a
    read blocked anywhere (status line, headers, body) returns at once, whatever the per-read timeout."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._connection: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def watch(self, connection: http.client.HTTPConnection | None) -> None:
        with self._lock:
            self._connection = connection
        if connection is not None and self.expired:
            self._shut(connection)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            connection = self._connection
        if connection is not None:
            self._shut(connection)

    @staticmethod
    def _shut(connection: http.client.HTTPConnection) -> None:
        sock = connection.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def check(self, field: str, url: str) -> None:
        if self.expired:
            raise self.error(field, url)

    def error(self, field: str, url: str) -> InvalidInput:
        return InvalidInput(f"{field}: downloading {redact_url(url)} took longer than {self.seconds:g}s "
                            "(DOWNLOAD_TIMEOUT_S)", field=field)

    def cancel(self) -> None:
        self._timer.cancel()


def _parse_url(field: str, url: str, *, redirected: bool) -> urllib.parse.SplitResult:
    where = " (after a redirect)" if redirected else ""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError as error:  # e.g. an unclosed IPv6 bracket
        raise InvalidInput(f"{field}: not a valid URL{where} ({error})", field=field) from None
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        raise InvalidInput(f"{field}: URL scheme {scheme + ':' if scheme else '(none)'} is not allowed{where}; "
                           "accepted: http(s) URLs, data: URIs or base64", field=field)
    if not parts.hostname:
        raise InvalidInput(f"{field}: the URL has no host{where}", field=field)
    try:
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise InvalidInput(f"{field}: the URL has an invalid port{where}", field=field) from None
    if parts.username or parts.password:
        raise InvalidInput(f"{field}: URLs with user:password@ are not accepted{where}", field=field)
    return parts


def _connect(field: str, url: str, parts: urllib.parse.SplitResult, limits: Limits) -> _PinnedHTTPConnection:
    https = parts.scheme.lower() == "https"
    port = parts.port or (443 if https else 80)
    host = parts.hostname or ""
    address = _checked_address(field, url, host, port, limits.allow_private)
    kind = _PinnedHTTPSConnection if https else _PinnedHTTPConnection
    return kind(host, port, address=address, connect_timeout_s=limits.connect_timeout_s,
                read_timeout_s=limits.read_timeout_s)


def _request(field: str, url: str, connection: _PinnedHTTPConnection, parts: urllib.parse.SplitResult,
             limits: Limits) -> http.client.HTTPResponse:
    # Characters a URL may not carry as they are (non-ASCII, spaces: "…/Interview Müller.mp3") are percent-encoded,
    # as browsers and requests do; what is already encoded stays as it is.
    target = urllib.parse.quote(urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, "")),
                                safe=URL_SAFE_CHARACTERS)
    try:
        connection.request("GET", target, headers={"User-Agent": USER_AGENT, "Accept": "*/*"})
        return connection.getresponse()
    except TimeoutError:
        raise InvalidInput(f"{field}: {redact_url(url)} did not answer within "
                           f"{limits.connect_timeout_s:g}s/{limits.read_timeout_s:g}s", field=field) from None
    except ssl.SSLError as error:
        raise InvalidInput(f"{field}: TLS error with {parts.hostname}: {error.reason or error}", field=field) from None
    except http.client.InvalidURL:  # its message quotes the request target, query string and all
        raise InvalidInput(f"{field}: cannot download {redact_url(url)}: not a valid URL", field=field) from None
    except (OSError, http.client.HTTPException) as error:
        raise InvalidInput(f"{field}: cannot download {redact_url(url)}: {type(error).__name__}: {error}",
                           field=field) from None


def _stream_to_file(field: str, url: str, response: http.client.HTTPResponse, directory: Path, limits: Limits,
                    deadline: _Deadline, stem: str, cancel: threading.Event | None = None) -> MediaFile:
    declared = response.getheader("Content-Length")
    if declared and declared.strip().isdigit() and int(declared) > limits.max_bytes:
        raise _too_large(field, url, int(declared), limits.max_bytes)
    path_part = urllib.parse.urlsplit(url).path
    suffix = _url_suffix(path_part) or suffix_for_mime(response.getheader("Content-Type") or "")
    target = directory / f"{stem}{suffix or ''}"
    received = 0
    try:
        with target.open("wb") as out:
            while chunk := _read_chunk(field, url, response, deadline, limits):
                if cancel is not None and cancel.is_set():
                    raise Cancelled()
                received += len(chunk)
                if received > limits.max_bytes:
                    raise _too_large(field, url, received, limits.max_bytes, streamed=True)
                out.write(chunk)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    if suffix is None:
        with target.open("rb") as head:
            target = target.rename(target.with_suffix(sniff_suffix(head.read(64))))
    logger.info("downloaded %s from %s", describe_size(received), urllib.parse.urlsplit(url).hostname)
    name = PurePosixPath(urllib.parse.unquote(path_part)).name or "audio"
    return MediaFile(target, name)


def _read_chunk(field: str, url: str, response: http.client.HTTPResponse, deadline: _Deadline,
                limits: Limits) -> bytes:
    deadline.check(field, url)
    try:
        return response.read1(CHUNK_BYTES)
    except TimeoutError:
        raise InvalidInput(f"{field}: {redact_url(url)} stalled for more than {limits.read_timeout_s:g}s",
                           field=field) from None
    except (OSError, http.client.HTTPException) as error:
        raise InvalidInput(f"{field}: download of {redact_url(url)} broke off: {type(error).__name__}",
                           field=field) from None


def _too_large(field: str, url: str, size: int, max_bytes: int, *, streamed: bool = False) -> InvalidInput:
    amount = f"more than {describe_size(max_bytes)}" if streamed else describe_size(size)
    return InvalidInput(f"{field}: {redact_url(url)} is {amount}, over the limit of {describe_size(max_bytes)} "
                        "(MAX_UPLOAD_MB)", field=field)
