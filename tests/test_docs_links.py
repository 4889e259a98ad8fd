"""The docs hold together: every relative link and `#anchor` in README.md and docs/*.md leads somewhere (the file
exists; the anchor is a heading's slug as GitHub makes it, or an explicit `<a id>`), and README.md stays a front
page. Pure text, no models."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
README_MAX_LINES = 250

FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
CODE_SPAN = re.compile(r"(`+)(.+?)\1")
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^()\s<>]*(?:\([^()\s]*\)[^()\s<>]*)*)>?"
                         r"(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_DEFINITION = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$")
HTML_TARGET = re.compile(r"""<(?:a|img)\s[^>]*?\b(?:href|src)=["']([^"']+)["']""", re.IGNORECASE)
HTML_ANCHOR = re.compile(r"""<[a-z][^>]*?\s(?:id|name)=["']([^"']+)["']""", re.IGNORECASE)
SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading (github-slugger): the rendered text, lower-cased, without punctuation
    other than `-` and `_`, each space a `-`."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link shows its text
    text = re.sub(r"<[^>]+>", "", text).replace("`", "").replace("*", "")
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def _lines(path: Path) -> list[tuple[int, str]]:
    """(line number, text) of the lines outside fenced code blocks and the YAML front matter."""
    lines = path.read_text(encoding="utf-8").split("\n")
    kept, fenced, start = [], False, 0
    if lines and lines[0].strip() == "---":  # front matter (the Space's config in README.md)
        start = next((i + 1 for i in range(1, len(lines)) if lines[i].strip() == "---"), 0)
    for number, line in enumerate(lines[start:], start + 1):
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            kept.append((number, line))
    return kept


def anchors(path: Path) -> set[str]:
    """Every anchor a page has: its headings' slugs (a repeated one gets -1, -2, … as on GitHub) and HTML ids."""
    found: set[str] = set()
    seen: Counter[str] = Counter()
    for _, line in _lines(path):
        heading = HEADING.match(line)
        if heading:
            base = slug(heading.group(2))
            found.add(f"{base}-{seen[base]}" if seen[base] else base)
            seen[base] += 1
        found.update(HTML_ANCHOR.findall(line))
    return found


def links(path: Path) -> list[tuple[int, str]]:
    """(line number, target) of every link and image in a page, code spans and blocks left out. A link's text may
    run over several lines, so the page is searched whole, with the lines left out blanked."""
    kept = dict(_lines(path))
    count = path.read_text(encoding="utf-8").count("\n") + 1
    text = "\n".join(CODE_SPAN.sub("code", kept.get(number, "")) for number in range(1, count + 1))
    found = []
    for pattern in (INLINE_LINK, HTML_TARGET):
        for match in pattern.finditer(text):
            found.append((text.count("\n", 0, match.start(1)) + 1, match.group(1)))
    for number, line in kept.items():
        definition = REFERENCE_DEFINITION.match(CODE_SPAN.sub("code", line))
        if definition:
            found.append((number, definition.group(1)))
    return sorted(found)


def broken_links(path: Path, root: Path = ROOT) -> list[str]:
    """`FILE:LINE: target (why)` for each relative link of `path` that leads nowhere."""
    broken = []
    for number, target in links(path):
        if SCHEME.match(target) or target.startswith("//"):
            continue  # absolute: not ours to check offline
        where, _, anchor = target.partition("#")
        destination = (path.parent / unquote(where)).resolve() if where else path
        why = None
        if root.resolve() not in (destination, *destination.parents):
            why = "outside the repository"
        elif not destination.exists():
            why = "no such file"
        elif anchor and destination.suffix == ".md" and unquote(anchor) not in anchors(destination):
            why = f"no heading or <a id> '{anchor}' in {destination.relative_to(root.resolve())}"
        if why:
            broken.append(f"{path.relative_to(root)}:{number}: {target} ({why})")
    return broken


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_relative_link_and_anchor_resolves(page):
    assert broken_links(page) == []


def test_readme_is_a_front_page():
    """Everything beyond what a newcomer needs first lives in docs/ (issue #28)."""
    lines = (ROOT / "README.md").read_text(encoding="utf-8").count("\n")
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; move detail into a docs/ page"


@pytest.mark.parametrize(("heading", "expected"), [
    ("OpenAI-compatible API (`/v1/audio/...`)", "openai-compatible-api-v1audio"),
    ("3b. A RunPod load-balancing endpoint: the OpenAI-compatible API",
     "3b-a-runpod-load-balancing-endpoint-the-openai-compatible-api"),
    ("API: `/transcribe`", "api-transcribe"),
    ("Собрать и опубликовать базовый образ (один раз)", "собрать-и-опубликовать-базовый-образ-один-раз"),
    ("Models: **open** and `default_profile` — compared", "models-open-and-default_profile--compared"),
    ("See [the guide](docs/deploy.md)", "see-the-guide"),
])
def test_heading_slugs_are_githubs(heading, expected):
    assert slug(heading) == expected


def test_a_broken_link_or_anchor_is_reported(tmp_path):
    """The checker itself can fail: a missing file, a missing heading, a repeated heading's second anchor."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "other.md").write_text("# Other\n\n## Twice\n\n## Twice\n\n<a id=\"kept\"></a>\n")
    page = tmp_path / "README.md"
    page.write_text("# Page\n\n[ok](docs/other.md#twice-1) [ok](docs/other.md#kept) [ok](#page)\n"
                    "[gone](docs/missing.md) [bad](docs/other.md#thrice) `[code](nowhere.md)`\n"
                    "```\n[fenced](nowhere.md)\n```\n[web](https://example.com/x.md) [up](../../etc/passwd)\n"
                    "![a picture whose text\nruns on](docs/images/missing.png)\n")
    assert broken_links(page, tmp_path) == [
        "README.md:4: docs/missing.md (no such file)",
        "README.md:4: docs/other.md#thrice (no heading or <a id> 'thrice' in docs/other.md)",
        "README.md:8: ../../etc/passwd (outside the repository)",
        "README.md:10: docs/images/missing.png (no such file)",
    ]
