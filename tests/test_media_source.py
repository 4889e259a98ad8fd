"""Fast tests of the audio-source guards (no models): schemes, addresses, redirects, size caps, base64."""

from __future__ import annotations

import base64
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from core import InvalidInput
from core.media import fetch as ms
from tests.servers import media_server

WAV_HEAD = b"RIFF\x24\x00\x00\x00WAVEfmt "


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with media_server({"clip.wav": WAV_HEAD + b"\0" * 100, "noext": b"OggS" + b"\0" * 60,
                       "Interview Müller.wav": WAV_HEAD + b"\0" * 100}) as base:
        yield base


def _fetch(field: str, value: str, tmp_path: Path, *, accept: tuple[str, ...] = ms.SOURCE_KINDS, hint: str = "",
           **limits: object) -> ms.MediaFile:
    settings = {"max_bytes": 1000, "allow_private": True, **limits}
    return ms.fetch_source(field, value, tmp_path, ms.Limits(**settings), accept=accept, hint=hint)


def _refused(field: str, value: str, tmp_path: Path, *needles: str, accept: tuple[str, ...] = ms.SOURCE_KINDS,
             hint: str = "", **limits: object) -> str:
    with pytest.raises(InvalidInput) as caught:
        _fetch(field, value, tmp_path, accept=accept, hint=hint, **limits)
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


@pytest.mark.parametrize(("ip", "needle"), [
    ("64:ff9b::a9fe:a9fe", "169.254.169.254, a cloud metadata address"),  # NAT64 form of the metadata address
    ("64:ff9b::a00:1", "NAT64"),  # NAT64 form of 10.0.0.1
    ("64:ff9b::808:808", "NAT64"),  # even of a public address: the translator may sit in a private network
    ("64:ff9b:1::a00:1", "NAT64"),  # local-use NAT64 prefix
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"),
])
def test_ipv6_transition_forms_are_refused_even_with_the_override(ip, needle):
    for allow_private in (False, True):
        with pytest.raises(ValueError, match=needle):
            ms.check_address(ip, allow_private=allow_private)


def test_nat64_metadata_url_is_refused(tmp_path):
    _refused("audio", "http://[64:ff9b::a9fe:a9fe]/latest/meta-data/", tmp_path, "refused", "metadata",
             allow_private=False)


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


def test_a_url_with_spaces_or_non_ascii_characters_is_fetched(server, tmp_path):
    """As browsers and requests send it: percent-encoded, what was encoded already left as it is."""
    for url in (f"{server}/file/Interview Müller.wav?sig=ä b", f"{server}/file/Interview%20M%C3%BCller.wav"):
        media = _fetch("audio", url, tmp_path)
        assert media.path.read_bytes().startswith(b"RIFF") and media.path.suffix == ".wav", url


@pytest.mark.parametrize("url", ["http://[::1/x.wav", "https://[not-an-address]/x.wav"])
def test_a_malformed_url_is_refused_naming_the_field(url, tmp_path):
    _refused("speaker_samples[0].url", url, tmp_path, "not a valid URL")


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
    assert list(tmp_path.iterdir()) == []


def test_total_deadline_covers_the_response_headers(server, tmp_path):
    """A server that sends one header byte at a time never trips the per-read timeout; the deadline stops it."""
    started = time.monotonic()
    message = _refused("audio", f"{server}/trickle-headers", tmp_path, "longer than 1s", "DOWNLOAD_TIMEOUT_S",
                       total_timeout_s=1.0, read_timeout_s=5.0)
    assert time.monotonic() - started < 4.0, message
    assert list(tmp_path.iterdir()) == []


def test_a_download_stops_when_cancelled(server, tmp_path):
    """The slow route sends for 5 s; a Stop 0.3 s in ends it at the next chunk and leaves no partial file."""
    import threading

    from core.errors import Cancelled

    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    started = time.monotonic()
    with pytest.raises(Cancelled):
        ms.download("link", f"{server}/slow", tmp_path, ms.Limits(max_bytes=1000, allow_private=True), cancel=cancel)
    assert time.monotonic() - started < 2.0
    assert list(tmp_path.iterdir()) == []


def test_default_timeouts_suit_a_serverless_job():
    limits = ms.Limits(max_bytes=1)
    assert limits.total_timeout_s <= 300 and limits.read_timeout_s <= 60


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


def test_accepted_kinds_are_the_callers_choice(tmp_path):
    url_only = ("url", "data")
    _refused("audio", base64.b64encode(b"abc").decode(), tmp_path, "http(s) URL or a data: URI", "audio_base64",
             accept=url_only, hint="send raw base64 in audio_base64")
    _refused("audio", "data:audio/wav;base64", tmp_path, "malformed", accept=url_only)
    _refused("audio_base64", "https://example.com/a.wav", tmp_path, "not valid base64", accept=("base64", "data"))


def test_files_are_named_by_the_callers_stem(tmp_path):
    data = base64.b64encode(WAV_HEAD + b"\0" * 8).decode()
    media = ms.fetch_source("speaker_samples[0]", data, tmp_path, ms.Limits(max_bytes=1000), stem="sample-0")
    assert media.path.name == "sample-0.wav"


def test_job_directory_is_removed_even_on_error():
    with pytest.raises(RuntimeError), ms.job_directory() as directory:
        (directory / "input.wav").write_bytes(b"x")
        raise RuntimeError("boom")
    assert not directory.exists()
    assert directory.name.startswith(ms.JOB_DIR_PREFIX)
