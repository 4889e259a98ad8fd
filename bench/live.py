"""The `live` part: real recordings streamed at real-time pace through the real `openai` SDK's Realtime client into
`APP_MODE=api` (`/v1/realtime?intent=transcription`), as a live caller would.

Per turn (an item), from the client's clock: the final text's delay after the speech stopped (the speech end is
`audio_end_ms - silence_duration_ms` of `speech_stopped`, i.e. what the server's VAD heard; the delay includes the
silence it waits for), and the first text's delay after the speech started; whether a turn of 5 s or more showed
text before it ended. Quality on the same audio: live WER against offline WER (the same server's
`/v1/audio/transcriptions`) where a reference transcript exists, live-vs-offline WER everywhere, live DER against
offline DER (collar 0.25 s) where reference turns exist. Voices enrolled from other recordings of the same person
(AMI participants who speak in two clips of one meeting, from their reference turns there; a festival voice from
other sentences): the share of their words named, and the words of anyone else given that name. The server's CPU
per audio second, and the sessions one core could carry. Then two sessions at once. The `live-long` part: one
session of `--live-minutes` (30) of real speech, its latency at the end against its start, its memory.

Clips: the real-recording quality set (bench/quality: AMI meeting excerpts with reference turns, JFK with its
words), pyannote's sample, and festival speech with a known script (synthetic, marked so).
"""

from __future__ import annotations

import contextlib
import os
import statistics
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np

from bench import services
from bench.live_client import LiveRun, stream
from bench.measure import process_cpu_s, process_rss_mb, table, word_error_rate
from bench.quality_runs import QUALITY_DIR, Clip, load_set

SILENCE_MS = 500
SESSION = {"type": "transcription", "audio": {"input": {
    "format": {"type": "audio/pcm", "rate": 24000},
    "transcription": {"model": "gpt-4o-transcribe", "language": "en"},
    "turn_detection": {"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300,
                       "silence_duration_ms": SILENCE_MS}}}}
TARGETS = {"final_median_s": 2.0, "final_p95_s": 4.0, "wer_points": 2.0, "named_share": 0.8, "drift_s": 0.5}
# AMI participants who speak in two clips of one meeting: enrolled from the clip where they speak alone longer (its
# reference turns where no one else speaks), then named (or not) in the other.
AMI_VOICES = (("MEO069", ("ami-trn00", "ami-trn03")), ("MEE009", ("ami-dev00", "ami-dev01")),
              ("FEE087", ("ami-trn07", "ami-trn08")))
FESTIVAL_VOICE = "Festival Kal"


def live_long_part(args: Any) -> dict[str, Any]:
    """One session of `--live-minutes` (default 30) of real speech at real-time pace: latency at its end against
    its start, the server's memory."""
    clips = {name: clip for name, clip in _clips(args.scratch).items() if name.startswith("ami-")}
    env = {"WHISPER_MODEL": args.live_model} if args.live_model else {}
    with services.running("api", args.models_dir, env) as server:
        long = _long_session(_client(server.url), server, clips, args.live_minutes or 30.0)
    drift = (long["last_median_s"] or 0) - (long["first_median_s"] or 0)
    print(table(f"One {long['minutes']:g}-minute live session ({args.live_model or 'the default model'})", [
        ("turns", str(long["turns"])),
        ("final text after the speech stopped, median: first / last 5 minutes",
         f"{_s(long['first_median_s'])} / {_s(long['last_median_s'])} (drift {drift:+.2f} s; target within "
         f"{TARGETS['drift_s']:g} s: {'met' if abs(drift) <= TARGETS['drift_s'] else 'NOT met'})"),
        ("p95 first / last 5 minutes", f"{_s(long['first_p95_s'])} / {_s(long['last_p95_s'])}"),
        ("server RSS at the start / peak / end",
         f"{long['rss_start_mb']:.0f} / {long['rss_peak_mb']:.0f} / {long['rss_end_mb']:.0f} MB"),
        ("machine load (1-min load average, start / end)", f"{long['load'][0]:.1f} / {long['load'][1]:.1f}")]))
    return long


def live_part(args: Any) -> dict[str, Any]:
    import soundfile

    from tests import speech

    clips = _clips(args.scratch)
    enrolling = {clip for _, pair in AMI_VOICES for clip in pair}
    if args.live_clips:
        wanted = set(args.live_clips.split(","))
        clips = {name: clip for name, clip in clips.items() if name in wanted or name in enrolling}
    smaller = _smaller_model(args.models_dir, args.live_model)
    data_dir = Path(tempfile.mkdtemp(prefix="bench-live-data-"))
    enrolled = _enrol(data_dir, clips, args.scratch)
    env = {"DATA_DIR": str(data_dir), "LIVE_MAX_SESSIONS": "4"}
    if args.live_model:
        env["WHISPER_MODEL"] = args.live_model
    figures: dict[str, Any] = {"runs": {}, "load": [os.getloadavg()[0]]}
    with services.running("api", args.models_dir, env) as server:
        client = _client(server.url)
        for name, (samples, clip) in clips.items():
            before = process_cpu_s(server.process.pid)
            run = stream(client, samples, session=SESSION, speed=args.live_speed)
            cpu = process_cpu_s(server.process.pid) - before
            offline = _offline(client, clip, samples, soundfile)
            figures["runs"][name] = {"run": run, "cpu_s": cpu, "audio_s": len(samples) / 16000, "clip": clip,
                                     "offline": offline}
            agreement = word_error_rate(offline["text"], run.transcript())
            print(f"  {name}: {len(run.items())} turns, live/offline WER {agreement:.3f}", flush=True)
        figures["load"].append(os.getloadavg()[0])
        figures["concurrent"] = {f"{name} ({model_name})": lat for model_name, model in
                                 (("default model", None), *(((smaller, smaller),) if smaller else ()))
                                 for name, lat in _concurrent(client, clips, model).items()}
    with contextlib.suppress(OSError):
        for path in data_dir.iterdir():
            path.unlink()
        data_dir.rmdir()
    _report(figures, enrolled, speech, args)
    return _summary(figures)


# ---- inputs -------------------------------------------------------------------------------------------------
def _clips(scratch: Path) -> dict[str, tuple[np.ndarray, Any]]:
    """name → (16 kHz samples, what we know about it)."""
    from importlib import resources

    from core.media.decode import decode_audio
    from tests import speech

    clips: dict[str, tuple[np.ndarray, Any]] = {}
    for clip in load_set(QUALITY_DIR):
        clips[clip.id] = (decode_audio(str(clip.audio)).samples, clip)
    sample = Path(str(resources.files("pyannote.audio") / "sample"))
    clips["pyannote-sample"] = (decode_audio(str(sample / "sample.wav")).samples,
                                Clip("pyannote-sample", sample / "sample.wav", "heldout", "sample",
                                     rttm=_renamed_rttm(sample / "sample.rttm", "pyannote-sample", scratch)))
    if speech.festival_available():
        scratch.mkdir(parents=True, exist_ok=True)
        dialogue = speech.make_dialogue(scratch / "live-festival-dialogue.wav")
        meeting = speech.make_dialogue(scratch / "live-festival-meeting.wav", speech.THREE_PEOPLE)
        for name, recording in (("festival-dialogue-synthetic", dialogue), ("festival-meeting-synthetic", meeting)):
            script = scratch / f"{recording.path.stem}.txt"
            script.write_text(recording.script, encoding="utf-8")
            rttm = scratch / f"{recording.path.stem}.rttm"
            rttm.write_text("".join(f"SPEAKER {name} 1 {start:.3f} {end - start:.3f} <NA> <NA> {who} <NA> <NA>\n"
                                    for start, end, who in recording.turns), encoding="utf-8")
            clips[name] = (decode_audio(str(recording.path)).samples,
                           Clip(name, recording.path, "synthetic", name, text=script, rttm=rttm))
    return clips


def _renamed_rttm(source: Path, uri: str, scratch: Path) -> Path:
    scratch.mkdir(parents=True, exist_ok=True)
    target = scratch / f"{uri}.rttm"
    lines = [line.split() for line in source.read_text().splitlines() if line.strip()]
    target.write_text("".join(" ".join([parts[0], uri, *parts[2:]]) + "\n" for parts in lines))
    return target


def _enrol(data_dir: Path, clips: dict[str, tuple[np.ndarray, Any]], scratch: Path) -> dict[str, dict[str, str]]:
    """Each test voice enrolled in the server's library before it starts: name → where it must be named."""
    import dataclasses

    from core import Settings
    from core.service import Service
    from core.transcript.result import SpeakerTurn
    from tests import speech

    settings = dataclasses.replace(Settings.from_env(), data_dir=data_dir)
    service = Service(settings)
    enrolled: dict[str, dict[str, str]] = {}
    for participant, pair in AMI_VOICES:
        if any(clip_id not in clips for clip_id in pair):
            continue
        alone_in = {clip_id: _alone(clips[clip_id][1].reference(), participant) for clip_id in pair}
        enrol_id = max(pair, key=lambda clip_id: sum(end - start for start, end in alone_in[clip_id]))
        test_id = next(clip_id for clip_id in pair if clip_id != enrol_id)
        samples, alone = clips[enrol_id][0], alone_in[enrol_id]
        turns = tuple(SpeakerTurn(start=start, end=end, speaker=participant) for start, end in alone)
        name = f"AMI {participant}"
        try:
            service.remember_voices({name: [(samples, f"bench: {enrol_id}", enrol_id)]}, turns=turns,
                                    label=participant)
        except Exception as error:  # noqa: BLE001 - too little clean speech to enrol: reported, not fatal
            print(f"  {name}: not enrolled ({error})")
            continue
        enrolled[name] = {"clip": test_id, "participant": participant}
    if speech.festival_available() and "festival-meeting-synthetic" in clips:
        enrol = speech.make_dialogue(scratch / "live-festival-enrol.wav",
                                     [(speech.MALE, text) for text in speech.ENROLMENT])
        from core.media.decode import decode_audio

        service.remember_voice(FESTIVAL_VOICE, [(decode_audio(str(enrol.path)).samples, "bench: festival", "enrol")])
        enrolled[FESTIVAL_VOICE] = {"clip": "festival-meeting-synthetic", "participant": "male"}
    return enrolled


def _alone(reference: Any, participant: str) -> list[tuple[float, float]]:
    """The stretches where `participant` speaks and no one else does (reference turns)."""
    mine = reference.label_timeline(participant).support()
    others = reference.subset([label for label in reference.labels() if label != participant]).get_timeline()
    alone = mine.extrude(others.support()) if len(others) else mine
    return [(segment.start, segment.end) for segment in alone if segment.duration >= 0.5]


def _client(url: str) -> Any:
    from openai import OpenAI

    return OpenAI(base_url=url + "/v1", api_key=os.environ.get("BENCH_API_KEY", "unused"), max_retries=0,
                  timeout=900)


def _offline(client: Any, clip: Any, samples: np.ndarray, soundfile: Any) -> dict[str, Any]:
    """The same server's offline answer: text, and turns from its diarized segments."""
    with tempfile.NamedTemporaryFile(suffix=".wav") as handle:
        soundfile.write(handle.name, samples, 16000)
        answer = client.audio.transcriptions.create(file=Path(handle.name), model="gpt-4o-transcribe-diarize",
                                                    language="en", response_format="diarized_json",
                                                    chunking_strategy="auto")
    segments = [(s.start, s.end, s.speaker) for s in answer.segments]
    return {"text": answer.text, "turns": segments}


# ---- sessions at once, one long session -------------------------------------------------------------------
def _concurrent(client: Any, clips: dict[str, tuple[np.ndarray, Any]], model: str | None = None) -> dict[str, Any]:
    """Two sessions streaming at once, on the server's default model or on `model` (an installed one)."""
    chosen = [name for name in ("ami-tst00", "ami-trn08") if name in clips] or list(clips)[:2]
    session = _with_model(SESSION, model) if model else SESSION
    runs: dict[str, LiveRun] = {}

    def one(name: str) -> None:
        runs[name] = stream(client, clips[name][0], session=session, speed=1.0)

    threads = [threading.Thread(target=one, args=(name,)) for name in chosen]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {name: _latencies([run]) for name, run in runs.items()}


def _with_model(session: dict[str, Any], model: str) -> dict[str, Any]:
    """`session` asking for an installed ASR model by its name (the protocol passes such names through)."""
    import copy

    changed = copy.deepcopy(session)
    changed["audio"]["input"]["transcription"]["model"] = model
    return changed


def _smaller_model(models_dir: Path, live_model: str | None) -> str | None:
    """The smallest installed ASR model other than the server's default, for the two-sessions row (the issue allows
    one); the registry says what is installed and which is the default (nothing loads)."""
    from core import Settings
    from core.models.registry import ModelRegistry

    registry = ModelRegistry(Settings(models_dir=models_dir, whisper_model=live_model))
    default, installed = registry.default_asr_name, registry.available_asr_models()
    order = ("tiny.en", "tiny", "base.en", "base", "small.en", "small")
    return next((name for name in order if name in installed and name != default), None)


def _long_session(client: Any, server: Any, clips: dict[str, tuple[np.ndarray, Any]], minutes: float) -> dict:
    """Real speech (the AMI clips one after another, again and again) for `minutes` in one session."""
    pieces = [samples for name, (samples, _) in clips.items() if name.startswith("ami-")]
    total, audio = int(minutes * 60 * 16000), []
    while sum(len(piece) for piece in audio) < total:
        audio += pieces
    samples = np.concatenate(audio)[:total]
    rss_before = process_rss_mb(server.process.pid)
    load = [os.getloadavg()[0]]
    peak = [rss_before]
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(5):
            peak.append(process_rss_mb(server.process.pid))

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        run = stream(client, samples, session=SESSION, speed=1.0, timeout_s=minutes * 60 + 600)
    finally:
        stop.set()
    items = [item for item in run.items() if "completed_at" in item and "speech_end_ms" in item]
    window = 5 * 60 * 1000
    first = [item["completed_at"] - run.sent_at(item["speech_end_ms"]) for item in items
             if item["speech_end_ms"] < window]
    last = [item["completed_at"] - run.sent_at(item["speech_end_ms"]) for item in items
            if item["speech_end_ms"] > len(samples) / 16 - window]
    load.append(os.getloadavg()[0])
    return {"minutes": minutes, "first_median_s": statistics.median(first) if first else None,
            "last_median_s": statistics.median(last) if last else None,
            "first_p95_s": float(np.percentile(first, 95)) if first else None,
            "last_p95_s": float(np.percentile(last, 95)) if last else None, "rss_start_mb": rss_before,
            "rss_end_mb": process_rss_mb(server.process.pid), "rss_peak_mb": max(peak), "turns": len(items),
            "load": load}


# ---- figures ------------------------------------------------------------------------------------------------
def _latencies(runs: list[LiveRun]) -> dict[str, Any]:
    final, first, long_turns, shown_while_spoken = [], [], 0, 0
    for run in runs:
        for item in run.items():
            if "completed_at" in item and "speech_end_ms" in item:
                final.append(item["completed_at"] - run.sent_at(item["speech_end_ms"]))
            if "first_text_at" in item and "speech_start_ms" in item and item.get("transcript", "x"):
                first.append(item["first_text_at"] - run.sent_at(item["speech_start_ms"]))
            if "speech_end_ms" in item and item["speech_end_ms"] - item["speech_start_ms"] >= 5000:
                long_turns += 1
                if item["deltas"] and item["deltas"][0][0] < run.sent_at(item["speech_end_ms"]):
                    shown_while_spoken += 1
    return {"final": _stats(final), "first": _stats(first), "long_turns": long_turns,
            "shown_while_spoken": shown_while_spoken}


def _stats(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"median": None, "p95": None, "n": 0}
    return {"median": float(np.median(values)), "p95": float(np.percentile(values, 95)), "n": len(values)}


def _ders(figures: dict[str, Any]) -> tuple[float | None, float | None]:
    from pyannote.core import Annotation, Segment
    from pyannote.metrics.diarization import DiarizationErrorRate

    live, offline = DiarizationErrorRate(collar=0.25), DiarizationErrorRate(collar=0.25)

    def annotation(turns: list[tuple[float, float, str]]) -> Annotation:
        result = Annotation()
        for index, (start, end, speaker) in enumerate(turns):
            if end > start:
                result[Segment(start, end), index] = speaker
        return result

    any_reference = False
    for entry in figures["runs"].values():
        reference = entry["clip"].reference()
        if reference is None or not reference.labels():
            continue
        any_reference = True
        live_turns = [(s["start"], s["end"], s["speaker"]) for s in entry["run"].segments()]
        live(reference, annotation(live_turns))
        offline(reference, annotation(entry["offline"]["turns"]))
    return (abs(live), abs(offline)) if any_reference else (None, None)


def _named(figures: dict[str, Any], enrolled: dict[str, dict[str, str]]) -> list[tuple[str, str]]:
    rows = []
    for name, where in enrolled.items():
        entry = figures["runs"].get(where["clip"])
        if entry is None:
            continue
        reference = entry["clip"].reference()
        mine = named = others_named = 0
        for segment in entry["run"].segments():
            words = len(segment["text"].split())
            owner = _owner(reference, segment["start"], segment["end"])
            if owner == where["participant"]:
                mine += words
                named += words * (segment["speaker"] == name)
            elif owner is not None and segment["speaker"] == name:
                others_named += words
        share = named / mine if mine else 0.0
        rows.append((f"{name} in {where['clip']}: share of their words named",
                     f"{share:.0%} of {mine} words (target ≥ {TARGETS['named_share']:.0%}); others' words given "
                     f"this name: {others_named}"))
    return rows


def _owner(reference: Any, start: float, end: float) -> str | None:
    from pyannote.core import Segment

    overlap: dict[str, float] = {}
    for segment, _, label in reference.crop(Segment(start, end)).itertracks(yield_label=True):
        overlap[label] = overlap.get(label, 0.0) + segment.duration
    return max(overlap, key=overlap.__getitem__) if overlap else None


def _report(figures: dict[str, Any], enrolled: dict[str, dict[str, str]], speech: Any, args: Any) -> None:
    runs = figures["runs"]
    latency = _latencies([entry["run"] for entry in runs.values()])
    audio_s = sum(entry["audio_s"] for entry in runs.values())
    cpu_s = sum(entry["cpu_s"] for entry in runs.values())
    with_text = {name: entry for name, entry in runs.items() if entry["clip"].transcript()}
    live_wer = offline_wer = None
    if with_text:
        reference = " ".join(entry["clip"].transcript() for entry in with_text.values())
        live_wer = word_error_rate(reference, " ".join(entry["run"].transcript() for entry in with_text.values()))
        offline_wer = word_error_rate(reference, " ".join(entry["offline"]["text"] for entry in with_text.values()))
    agreement = word_error_rate(" ".join(entry["offline"]["text"] for entry in runs.values()),
                                " ".join(entry["run"].transcript() for entry in runs.values()))
    live_der, offline_der = _ders(figures)
    final, first = latency["final"], latency["first"]
    rows = [
        ("clips, audio", f"{len(runs)} clips, {audio_s / 60:.1f} min at {args.live_speed:g}× real time"),
        ("machine load (1-min load average, start / end of the clips)",
         " / ".join(f"{load:.1f}" for load in figures["load"][:2]) + f" on {os.cpu_count()} CPUs"),
        ("final text after the speech stopped: median", _versus(final["median"], TARGETS["final_median_s"])),
        ("final text after the speech stopped: p95", _versus(final["p95"], TARGETS["final_p95_s"])),
        ("turns measured", str(final["n"])),
        ("first text after the speech started: median / p95",
         f"{_s(first['median'])} / {_s(first['p95'])}"),
        ("turns of 5 s or more with text before they ended",
         f"{latency['shown_while_spoken']} of {latency['long_turns']}"),
    ]
    if live_wer is not None:
        names = ", ".join(with_text)
        rows.append((f"WER live / offline ({names})",
                     f"{live_wer:.1%} / {offline_wer:.1%} (live within {TARGETS['wer_points']:g} points: "
                     f"{'met' if live_wer <= offline_wer + TARGETS['wer_points'] / 100 else 'NOT met'})"))
    rows.append(("WER of live against offline, every clip", f"{agreement:.1%}"))
    if live_der is not None:
        rows.append(("DER live / offline (collar 0.25 s, clips with reference turns)",
                     f"{live_der:.1%} / {offline_der:.1%}"))
    rows.append(("server CPU per audio second (one session)", f"{cpu_s / audio_s:.2f} CPU-s"))
    rows.append(("real-time sessions per core (CPU alone)", f"{audio_s / cpu_s:.1f}"))
    rows += _named(figures, enrolled)
    for name, figures_of in figures.get("concurrent", {}).items():
        p95 = _versus(figures_of["final"]["p95"], TARGETS["final_p95_s"])
        rows.append((f"two sessions at once: {name} final median / p95",
                     f"{_s(figures_of['final']['median'])} / {p95}"))
    model = args.live_model or os.environ.get("WHISPER_MODEL") or "the default model"
    print(table(f"Live transcription through the openai SDK ({model}; per-clip table below)", rows))
    clip_rows = []
    for name, entry in runs.items():
        one = _latencies([entry["run"]])
        live_text = entry["run"].transcript()
        agreement = word_error_rate(entry["offline"]["text"], live_text)
        reference = entry["clip"].transcript()
        against = (f"; WER live / offline {word_error_rate(reference, live_text):.1%} / "
                   f"{word_error_rate(reference, entry['offline']['text']):.1%}" if reference else "")
        clip_rows.append((name, f"final median {_s(one['final']['median'])}, p95 {_s(one['final']['p95'])}; "
                                f"live/offline WER {agreement:.1%}{against}"))
    print(table("Live transcription per clip", clip_rows))


def _summary(figures: dict[str, Any]) -> dict[str, Any]:
    runs = figures["runs"]
    latency = _latencies([entry["run"] for entry in runs.values()])
    return {"final_median_s": latency["final"]["median"], "final_p95_s": latency["final"]["p95"],
            "first_median_s": latency["first"]["median"],
            "cpu_per_audio_s": sum(e["cpu_s"] for e in runs.values()) / sum(e["audio_s"] for e in runs.values())}


def _versus(value: float | None, target: float) -> str:
    if value is None:
        return "n/a"
    return f"{value:.2f} s (target ≤ {target:g} s: {'met' if value <= target else 'NOT met'})"


def _s(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f} s"
