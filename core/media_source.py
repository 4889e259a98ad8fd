"""Turn a request's audio source (http(s) URL, `data:` URI or base64) into a local file, safely.

A worker that fetches URLs for strangers is an SSRF risk and a disk/memory sink, so every source goes through
the same guards: http(s) only; loopback, private, link-local, multicast, reserved and cloud-metadata addresses
refused after DNS resolution and again after every redirect (the connection goes to the address that was
checked, so a second DNS answer cannot swap it); connect and total timeouts; one size cap on the declared
length, while streaming and on decoded base64. Files live in a per-job directory removed when the job ends.
Nothing here knows about RunPod or Gradio.
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
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from core.audio import describe_size
from core.errors import InvalidInput

logger = logging.getLogger(__name__)

AUDIO_FIELDS = ("audio", "audio_base64", "audio_file")
ALLOWED_SCHEMES = ("http", "https")
MAX_REDIRECTS = 5
CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 60.0
TOTAL_TIMEOUT_S = 600.0
CHUNK_BYTES = 1 << 20
JOB_DIR_PREFIX = "wxw-job-"
USER_AGENT = "whisperx-worker/0.1 (+media fetch)"
# Cloud instance-metadata endpoints stay refused even when ALLOW_PRIVATE_URLS=1 (that switch is for tests).
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "169.254.170.2", "100.100.100.200", "fd00:ec2::254")
)
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


def fetch_source(field: str, value: str, directory: Path, limits: Limits) -> MediaFile:
    """Materialise one audio source field into `directory`; `InvalidInput` naming `field` on any refusal."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{field} must be a non-empty string", field=field)
    value = value.strip()
    if value[:5].lower() == "data:":
        return _save(directory, *decode_data_uri(field, value, limits.max_bytes), name="audio")
    if _SCHEME_RE.match(value) and field != "audio_base64":
        return download(field, value, directory, limits)
    if field == "audio":
        raise InvalidInput(
            "audio must be an http(s) URL or a data: URI; send raw base64 in audio_base64", field=field
        )
    data = decode_base64(field, value, limits.max_bytes)
    return _save(directory, data, sniff_suffix(data), name="audio")


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


def _save(directory: Path, data: bytes, suffix: str, *, name: str) -> MediaFile:
    path = directory / f"input{suffix}"
    path.write_bytes(data)
    return MediaFile(path, name)


# ---- URLs ----------------------------------------------------------------------------------------
def redact_url(url: str) -> str:
    """scheme://host/path only: query strings of presigned URLs carry credentials."""
    parts = urllib.parse.urlsplit(url)
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


def download(field: str, url: str, directory: Path, limits: Limits) -> MediaFile:
    """GET `url` into `directory`, following at most MAX_REDIRECTS redirects, each hop re-vetted."""
    deadline = time.monotonic() + limits.total_timeout_s
    original = url
    for hop in range(MAX_REDIRECTS + 1):
        parts = _parse_url(field, url, redirected=hop > 0)
        connection = _connect(field, url, parts, limits)
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
            return _stream_to_file(field, url, response, directory, limits, deadline)
        finally:
            connection.close()
    raise InvalidInput(f"{field}: too many redirects (more than {MAX_REDIRECTS}) from {redact_url(original)}",
                       field=field)


def _parse_url(field: str, url: str, *, redirected: bool) -> urllib.parse.SplitResult:
    parts = urllib.parse.urlsplit(url)
    where = " (after a redirect)" if redirected else ""
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
    target = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
    try:
        connection.request("GET", target, headers={"User-Agent": USER_AGENT, "Accept": "*/*"})
        return connection.getresponse()
    except TimeoutError:
        raise InvalidInput(f"{field}: {redact_url(url)} did not answer within "
                           f"{limits.connect_timeout_s:g}s/{limits.read_timeout_s:g}s", field=field) from None
    except ssl.SSLError as error:
        raise InvalidInput(f"{field}: TLS error with {parts.hostname}: {error.reason or error}", field=field) from None
    except (OSError, http.client.HTTPException) as error:
        raise InvalidInput(f"{field}: cannot download {redact_url(url)}: {type(error).__name__}: {error}",
                           field=field) from None


def _stream_to_file(field: str, url: str, response: http.client.HTTPResponse, directory: Path, limits: Limits,
                    deadline: float) -> MediaFile:
    declared = response.getheader("Content-Length")
    if declared and declared.strip().isdigit() and int(declared) > limits.max_bytes:
        raise _too_large(field, url, int(declared), limits.max_bytes)
    path_part = urllib.parse.urlsplit(url).path
    suffix = _url_suffix(path_part) or suffix_for_mime(response.getheader("Content-Type") or "")
    target = directory / f"download{suffix or ''}"
    received = 0
    try:
        with target.open("wb") as out:
            while chunk := _read_chunk(field, url, response, deadline, limits):
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


def _read_chunk(field: str, url: str, response: http.client.HTTPResponse, deadline: float,
                limits: Limits) -> bytes:
    if time.monotonic() > deadline:
        raise InvalidInput(f"{field}: downloading {redact_url(url)} took longer than {limits.total_timeout_s:g}s",
                           field=field)
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
