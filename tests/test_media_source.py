"""Fast tests of the audio-source guards (no models): schemes, addresses, redirects, size caps, base64."""

from __future__ import annotations

import base64
import contextlib
import http.server
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from core import InvalidInput
from core import media_source as ms

WAV_HEAD = b"RIFF\x24\x00\x00\x00WAVEfmt "


class _Handler(http.server.BaseHTTPRequestHandler):
    """Routes: /file/<name> (server.files), /redirect?to=URL, /loop, /status/<code>, /stream/<n>, /slow, /host."""

    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: object) -> None:  # keep pytest output clean
        pass

    def do_GET(self) -> None:
        parts = urllib.parse.urlsplit(self.path)
        route, _, rest = parts.path.lstrip("/").partition("/")
        query = urllib.parse.parse_qs(parts.query)
        if route == "file" and rest in self.server.files:
            body = self.server.files[rest]
            self._reply(200, body, {"Content-Length": str(len(body)), "Content-Type": "application/octet-stream"})
        elif route == "redirect":
            self._reply(302, b"", {"Location": query["to"][0]})
        elif route == "loop":
            self._reply(302, b"", {"Location": "/loop"})
        elif route == "status":
            self._reply(int(rest), b"nope", {})
        elif route == "lying-length":
            self._reply(200, b"x" * 10, {"Content-Length": str(10**12)})
        elif route == "stream":  # no Content-Length: only the streaming count can stop it
            self._reply(200, b"\0" * int(rest), {})
        elif route == "slow":
            self.send_response(200)
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                for _ in range(50):
                    self.wfile.write(b"\0" * 10)
                    self.wfile.flush()
                    time.sleep(0.1)
        elif route == "host":
            body = (self.headers.get("Host") or "").encode()
            self._reply(200, body, {"Content-Length": str(len(body))})
        else:
            self._reply(404, b"not found", {})

    def _reply(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(body)


@contextlib.contextmanager
def media_server(files: dict[str, bytes] | None = None) -> Iterator[str]:
    """A local HTTP server in a thread; yields its base URL (http://127.0.0.1:PORT)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.files = dict(files or {})
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with media_server({"clip.wav": WAV_HEAD + b"\0" * 100, "noext": b"OggS" + b"\0" * 60}) as base:
        yield base


def _fetch(field: str, value: str, tmp_path: Path, **limits: object) -> ms.MediaFile:
    settings = {"max_bytes": 1000, "allow_private": True, **limits}
    return ms.fetch_source(field, value, tmp_path, ms.Limits(**settings))


def _refused(field: str, value: str, tmp_path: Path, *needles: str, **limits: object) -> str:
    with pytest.raises(InvalidInput) as caught:
        _fetch(field, value, tmp_path, **limits)
    message = caught.value.message
    assert caught.value.field == field
    for needle in needles:
        assert needle.lower() in message.lower(), message
    return message


# ---- addresses -----------------------------------------------------------------------------------
@pytest.mark.parametrize("ip", ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "0.0.0.0",
                                "100.64.0.1", "224.0.0.1", "240.0.0.1", "::1", "fe80::1", "fc00::1",
                                "::ffff:127.0.0.1", "2002:7f00:1::1", "ff02::1"])
def test_non_public_addresses_are_refused(ip):
    with pytest.raises(ValueError):
        ms.check_address(ip, allow_private=False)


@pytest.mark.parametrize("ip", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"])
def test_public_addresses_pass(ip):
    ms.check_address(ip, allow_private=False)


def test_override_allows_private_but_never_metadata():
    ms.check_address("127.0.0.1", allow_private=True)
    ms.check_address("10.0.0.1", allow_private=True)
    with pytest.raises(ValueError, match="metadata"):
        ms.check_address("169.254.169.254", allow_private=True)


@pytest.mark.parametrize("url", ["http://127.0.0.1/x.wav", "http://localhost:9/x.wav", "http://2130706433/x.wav",
                                 "http://[::1]/x.wav", "http://169.254.169.254/latest/meta-data/", "http://0x7f.1/a"])
def test_loopback_and_metadata_urls_refused_without_override(url, tmp_path):
    _refused("audio", url, tmp_path, "refused", "public", allow_private=False)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/a.wav", "gopher://x/", "javascript:alert(1)"])
def test_other_schemes_refused(url, tmp_path):
    _refused("audio", url, tmp_path, "not allowed", "http")
    _refused("audio_file", url, tmp_path, "not allowed")


def test_credentials_in_url_refused(tmp_path):
    _refused("audio", "http://user:pw@example.com/a.wav", tmp_path, "user:password")


# ---- downloads -----------------------------------------------------------------------------------
def test_download_keeps_suffix_and_name(server, tmp_path):
    media = _fetch("audio", f"{server}/file/clip.wav?sig=secret", tmp_path)
    assert media.path.parent == tmp_path and media.path.suffix == ".wav"
    assert media.path.read_bytes().startswith(b"RIFF") and media.name == "clip.wav"


def test_suffix_is_sniffed_without_extension_or_type(server, tmp_path):
    assert _fetch("audio", f"{server}/file/noext", tmp_path).path.suffix == ".ogg"


def test_relative_redirects_are_followed(server, tmp_path):
    media = _fetch("audio", f"{server}/redirect?to=/file/clip.wav", tmp_path)
    assert media.path.read_bytes().startswith(b"RIFF")


def test_each_redirect_hop_is_rechecked(server, tmp_path):
    target = urllib.parse.quote("http://169.254.169.254/latest/meta-data/iam", safe="")
    _refused("audio", f"{server}/redirect?to={target}", tmp_path, "metadata")
    _refused("audio", f"{server}/redirect?to=file:///etc/passwd", tmp_path, "after a redirect", "not allowed")


def test_redirect_loops_stop(server, tmp_path):
    _refused("audio", f"{server}/loop", tmp_path, "too many redirects")


def test_http_errors_name_the_status_but_not_the_query(server, tmp_path):
    message = _refused("audio", f"{server}/status/404?X-Amz-Signature=topsecret", tmp_path, "HTTP 404")
    assert "topsecret" not in message


def test_declared_length_over_cap_refused_before_reading(server, tmp_path):
    _refused("audio", f"{server}/lying-length", tmp_path, "over the limit")
    assert list(tmp_path.iterdir()) == []


def test_streamed_body_over_cap_refused_and_removed(server, tmp_path):
    assert _fetch("audio", f"{server}/stream/1000", tmp_path).path.stat().st_size == 1000
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    _refused("audio", f"{server}/stream/5000", fresh, "over the limit")
    assert list(fresh.iterdir()) == []


def test_total_timeout(server, tmp_path):
    _refused("audio", f"{server}/slow", tmp_path, "longer than", total_timeout_s=0.5, read_timeout_s=5.0)


def test_connection_goes_to_the_checked_address(server, tmp_path, monkeypatch):
    """DNS is asked once per hop and the socket opens to that answer: a rebinding resolver gets no second say."""
    port = urllib.parse.urlsplit(server).port
    answers = []

    def pinned(host: str, port: int) -> list[str]:
        answers.append(host)
        return ["127.0.0.1"]

    monkeypatch.setattr(ms, "resolve", pinned)
    media = _fetch("audio", f"http://media.invalid:{port}/host", tmp_path)
    assert media.path.read_bytes() == f"media.invalid:{port}".encode()
    assert answers == ["media.invalid"]


def test_unresolvable_host(tmp_path):
    _refused("audio", "http://no-such-host.invalid/a.wav", tmp_path, "cannot resolve")


def test_unreachable_port(tmp_path):
    _refused("audio", "http://127.0.0.1:1/a.wav", tmp_path, "cannot download", connect_timeout_s=2.0)


# ---- base64 and data: URIs -----------------------------------------------------------------------
def test_base64_and_data_uri(tmp_path):
    payload = WAV_HEAD + b"\0" * 50
    encoded = base64.b64encode(payload).decode()
    assert _fetch("audio_base64", encoded, tmp_path).path.read_bytes() == payload
    assert _fetch("audio_file", encoded, tmp_path).path.suffix == ".wav"
    media = _fetch("audio", f"data:audio/mpeg;base64,{encoded}", tmp_path)
    assert media.path.suffix == ".mp3" and media.path.read_bytes() == payload
    unpadded = base64.urlsafe_b64encode(b"\xff\xfb" + payload).decode().rstrip("=")
    assert _fetch("audio_base64", f" {unpadded[:10]}\n{unpadded[10:]} ", tmp_path).path.suffix == ".mp3"


@pytest.mark.parametrize("value", ["not base64!!", "abc$def", "===="])
def test_invalid_base64(value, tmp_path):
    _refused("audio_base64", value, tmp_path, "audio_base64")


def test_base64_over_cap_refused_before_decoding(tmp_path):
    encoded = base64.b64encode(b"\0" * 2000).decode()
    _refused("audio_base64", encoded, tmp_path, "over the limit")
    _refused("audio", f"data:audio/wav;base64,{encoded}", tmp_path, "over the limit")


def test_audio_field_needs_url_or_data_uri(tmp_path):
    _refused("audio", base64.b64encode(b"abc").decode(), tmp_path, "audio_base64")
    _refused("audio", "data:audio/wav;base64", tmp_path, "malformed")


def test_job_directory_is_removed_even_on_error():
    with pytest.raises(RuntimeError), ms.job_directory() as directory:
        (directory / "input.wav").write_bytes(b"x")
        raise RuntimeError("boom")
    assert not directory.exists()
    assert directory.name.startswith(ms.JOB_DIR_PREFIX)
