"""A batch: what one press of Transcribe runs (files, links, a recording, saved results), how it is stopped, and
the one zip of all its outputs. No Gradio here, so the rules are unit-tested directly.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import threading
import urllib.parse
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath

from core import Result
from core.errors import InvalidInput
from core.media.fetch import Limits, MediaFile, download
from core.transcript.formats import numbered_stems

MAX_BATCH = 20  # files and links in one press of Transcribe
LINK_FIELD = "Links"  # the on-screen label every link error starts with
SAVED_RESULT_SUFFIX = ".json"
_LINK_RE = re.compile(r"^https?://", re.I)


@dataclasses.dataclass(frozen=True)
class Source:
    """One thing to show a result for: an uploaded or recorded file, a link, or a saved result JSON (with the
    recording of the same name when one was uploaded beside it)."""

    name: str
    path: str | None = None
    url: str | None = None
    saved: str | None = None

    @property
    def stem(self) -> str:
        return Path(self.name).stem or "audio"


def collect_sources(uploads: Sequence[str] | str | None, links: str | None, recording: str | None) -> list[Source]:
    """Uploads (in order), then links (one per line); the recording only when neither is given."""
    files = [uploads] if isinstance(uploads, str) else list(uploads or ())
    saved = {Path(p).stem: p for p in files if Path(p).suffix.lower() == SAVED_RESULT_SUFFIX}
    media = [p for p in files if Path(p).suffix.lower() != SAVED_RESULT_SUFFIX]
    sources = [Source(Path(p).name, path=p, saved=saved.pop(Path(p).stem, None)) for p in media]
    sources += [Source(Path(p).name, saved=p) for p in saved.values()]
    sources += [Source(link_name(url), url=url) for url in parse_links(links)]
    if not sources and recording:
        sources.append(Source("recording.wav", path=str(recording)))
    if not sources:
        raise InvalidInput("Add an audio or video file, a link or a recording first.", field="audio")
    if len(sources) > MAX_BATCH:
        raise InvalidInput(f"{len(sources)} files and links at once is too many; up to {MAX_BATCH} are accepted.",
                           field="audio")
    return sources


def parse_links(text: str | None) -> list[str]:
    """One http(s) link per line; anything else is refused, naming the line."""
    links = []
    for number, line in enumerate((text or "").splitlines(), start=1):
        link = line.strip()
        if not link:
            continue
        if not _LINK_RE.match(link):
            raise InvalidInput(f"{LINK_FIELD}: line {number} is not an http:// or https:// link: {link[:60]!r}",
                               field="link")
        links.append(link)
    return links


def link_name(url: str) -> str:
    """The file name a link points at (for the card and the download names), or the host when there is none."""
    parts = urllib.parse.urlsplit(url)
    return PurePosixPath(urllib.parse.unquote(parts.path)).name or parts.hostname or "link"


def fetch_link(url: str, directory: Path, limits: Limits, cancel: threading.Event | None = None) -> MediaFile:
    """The RunPod worker's safe downloader (same guards and limits); errors name the on-screen "Links" box, and
    Stop ends the download at its next chunk."""
    return download(LINK_FIELD, url, directory, limits, cancel=cancel)


def load_saved(path: str) -> Result:
    """A result JSON this app saved (its `.json` download), to read, search and play again."""
    name = Path(path).name
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(data.get("segments"), list):
            raise KeyError("segments")
        return Result.from_dict(data)
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise InvalidInput(f"{name}: not a result saved by this app ({type(error).__name__}); upload the .json "
                           "from the Downloads list", field="audio") from None


class Stops:
    """Stop requests per browser session: Transcribe arms an event before the job is queued, Stop sets every
    armed event of the session (a job still waiting in the queue stops as soon as it starts)."""

    def __init__(self) -> None:
        self._events: dict[str, list[threading.Event]] = {}
        self._lock = threading.Lock()

    def arm(self, session: str | None) -> threading.Event:
        event = threading.Event()
        with self._lock:
            self._events.setdefault(session or "", []).append(event)
        return event

    def latest(self, session: str | None) -> threading.Event:
        """The event armed last for this session (a fresh one if none is armed)."""
        with self._lock:
            events = self._events.get(session or "")
            if events:
                return events[-1]
        return self.arm(session)

    def stop(self, session: str | None) -> int:
        with self._lock:
            events = list(self._events.get(session or "", ()))
        for event in events:
            event.set()
        return len(events)

    def forget(self, session: str | None) -> None:
        """The page was closed: stop its jobs (nobody will see them) and stop counting them as queued."""
        with self._lock:
            events = self._events.pop(session or "", [])
        for event in events:
            event.set()

    def release(self, session: str | None, event: threading.Event) -> None:
        with self._lock:
            events = self._events.get(session or "", [])
            if event in events:
                events.remove(event)
            if not events:
                self._events.pop(session or "", None)

    def busy(self, session: str | None) -> bool:
        """Whether a job of this session is armed (waiting or running): its batch owns the page's state."""
        with self._lock:
            return bool(self._events.get(session or ""))

    def armed(self) -> int:
        """Jobs armed and not yet released, all sessions: the ones running or waiting."""
        with self._lock:
            return sum(len(events) for events in self._events.values())


def unique_stems(names: Iterable[str]) -> list[str]:
    """Folder names for the zip: `talk`, `talk-2`, ... so two files called the same never overwrite."""
    return numbered_stems(_safe_stem(Path(name).stem) for name in names)


def _safe_stem(stem: str) -> str:
    cleaned = "".join(ch if ch.isalnum() or ch in "-_ .()" else "_" for ch in stem).strip(" .")
    return cleaned[:80] or "audio"


def write_zip(target: Path, folders: Sequence[tuple[str, Sequence[str]]]) -> Path:
    """One zip of every finished file's outputs: `<stem>/<stem>.<format>` per file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for folder, paths in folders:
            for path in paths:
                archive.write(path, f"{folder}/{Path(path).name}")
    shutil.move(partial, target)
    return target
