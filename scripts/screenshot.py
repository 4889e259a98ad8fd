"""Make docs/images/page.png, the README's screenshot: the page after transcribing a real two-speaker recording.

    MODELS_DIR=models .venv/bin/python scripts/screenshot.py [--seconds 30] [--model tiny.en] [--out PATH]

Starts `python app.py` (the open profile from MODELS_DIR, offline, on a free loopback port, with a throwaway
DATA_DIR and TMPDIR so no voice library is touched), uploads the first `--seconds` of pyannote's two-speaker
`sample.wav` in headless Debian Chromium (as the browser tests do), transcribes it with speaker diarization, and
saves the page's upper part as a palette PNG (small enough for the README); prints the transcript as the page's
*Copy transcript* gives it (the README quotes it). Needs `bash scripts/setup.sh --dev`
(Chromium, playwright). Takes about a minute of CPU with tiny.en.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser import launch, transcribe, upload  # noqa: E402  (the browser tests' own helpers)
from tests.servers import free_port, log_tail, stop_process, wait_until_answering  # noqa: E402

MAX_BYTES = 250_000
VIEWPORT = {"width": 1280, "height": 1000}


def sample_excerpt(seconds: float, dest: Path) -> Path:
    """The first `seconds` of pyannote's sample (two people on the telephone), as 16 kHz WAV."""
    import pyannote.audio

    sample = Path(pyannote.audio.__file__).parent / "sample" / "sample.wav"
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", str(sample), "-t", str(seconds),
                    "-ac", "1", "-ar", "16000", str(dest)], check=True)
    return dest


def start_app(models_dir: Path, model: str, work: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    log = work / "app.log"
    env = {**os.environ, "MODELS_DIR": str(models_dir), "WHISPER_MODEL": model, "DEVICE": "cpu",
           "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port), "DATA_DIR": str(work / "data"),
           "TMPDIR": str(work), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "PYANNOTE_METRICS_ENABLED": "0", "GRADIO_ANALYTICS_ENABLED": "False"}
    with log.open("w") as out:
        process = subprocess.Popen([sys.executable, str(ROOT / "app.py")], cwd=ROOT, env=env, stdout=out,
                                   stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    wait_until_answering(url + "config", process, log, timeout_s=300)
    return process, url


def shoot(url: str, audio: Path, height: int) -> tuple[bytes, str]:
    """(the screenshot, the transcript as the page's *Copy transcript* gives it)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch(playwright)
        context = browser.new_context(viewport=VIEWPORT)
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=url.rstrip("/"))
        page = context.new_page()
        page.set_default_timeout(120_000)
        page.goto(url)
        page.locator("#wx-transcribe").wait_for()
        upload(page, audio)
        page.get_by_label("Speaker diarization").check()
        transcribe(page)
        page.locator("#wx-view .wx-turn").first.wait_for()
        page.evaluate("window.scrollTo(0, 0)")
        page.wait_for_timeout(500)
        png = page.screenshot(clip={"x": 0, "y": 0, "width": VIEWPORT["width"], "height": height})
        page.locator("#wx-view").get_by_role("button", name="Copy transcript").click()
        page.locator("#wx-view").get_by_text("Transcript copied").wait_for()
        text = page.evaluate("navigator.clipboard.readText()")
        browser.close()
    return png, text


def compact(png: bytes) -> bytes:
    """The screenshot as an adaptive-palette PNG (UI colours survive; a tenth of the size)."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    out = io.BytesIO()
    image.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(out, format="PNG", optimize=True)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the excerpt of the sample")
    parser.add_argument("--model", default="tiny.en", help="installed ASR model (tiny.en: the cheapest)")
    parser.add_argument("--height", type=int, default=900, help="pixels of the page kept from its top")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "page.png")
    args = parser.parse_args(argv)
    models_dir = Path(os.environ.get("MODELS_DIR", ROOT / "models")).resolve()
    work = Path(tempfile.mkdtemp(prefix="wxw-screenshot-"))
    process = None
    try:
        audio = sample_excerpt(args.seconds, work / "sample-30s.wav")
        process, url = start_app(models_dir, args.model, work)
        try:
            png, text = shoot(url, audio, args.height)
        except Exception:
            print(log_tail(work / "app.log"), file=sys.stderr)
            raise
        image = compact(png)
        if len(image) > MAX_BYTES:
            raise SystemExit(f"{len(image)} bytes is over {MAX_BYTES}: use a smaller --height")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_bytes(image)
        print(f"{args.out}: {len(image)} bytes; its transcript:\n{text}")
    finally:
        if process is not None:
            stop_process(process)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
