"""The engine's optional parts added for the RunPod peers: suppress_tokens on the real model, language detection
windows and retries, speaker matching, advisories."""

from __future__ import annotations

import numpy as np
import pytest

from core import TranscribeOptions
from core.advisories import option_warnings
from core.asr.language_detection import WINDOW_SAMPLES, detect, window_starts
from core.speakers.verification import match
from tests import speech


@pytest.mark.slow
def test_suppress_tokens_reach_the_decoder(engine, monologue):
    """Suppressing the tokens of one word keeps it out of the transcript; the rest is still transcribed."""
    plain = engine.transcribe(monologue.path, TranscribeOptions(align_output=False))
    assert "fox" in plain.text.lower(), plain.text
    tokenizer = engine.registry.asr().pipeline.model.hf_tokenizer
    ids = sorted({i for text in (" fox", "fox", " Fox") for i in tokenizer.encode(text, add_special_tokens=False).ids})
    ids = ",".join(str(i) for i in [-1, *ids])
    suppressed = engine.transcribe(monologue.path, TranscribeOptions(align_output=False, suppress_tokens=ids))
    assert "fox" not in suppressed.text.lower(), suppressed.text
    assert speech.word_error_rate(monologue.script, suppressed.text) < 0.5, suppressed.text


def test_window_starts_spread_over_the_recording():
    assert window_starts(10 * 16_000, 5) == [0]  # shorter than a window: one try
    assert window_starts(WINDOW_SAMPLES * 2, 5) == [0, WINDOW_SAMPLES]
    starts = window_starts(WINDOW_SAMPLES * 10, 4)
    assert starts[0] == 0 and starts[-1] == WINDOW_SAMPLES * 9 and len(starts) == 4
    assert starts == sorted(starts)


class _Detector:
    """A stand-in for a multilingual whisper (none can be installed here; tiny.en cannot detect languages):
    answers each window with the next scripted (language, probability)."""

    def __init__(self, answers: list[tuple[str, float]]) -> None:
        self.answers, self.calls = list(answers), 0
        self.model = self
        self.feat_kwargs = {"feature_size": 80}

    def encode(self, features):
        return features

    def detect_language(self, _encoded):
        language, probability = self.answers[self.calls]
        self.calls += 1
        return [[(f"<|{language}|>", probability)]]


def test_detection_retries_until_sure_and_keeps_the_best():
    audio = np.zeros(WINDOW_SAMPLES * 6, dtype=np.float32)
    sure = _Detector([("de", 0.4), ("en", 0.95), ("fr", 0.99)])
    found = detect(sure, audio, min_probability=0.9, max_tries=5)
    assert (found.language, found.probability, found.tries, sure.calls) == ("en", 0.95, 2, 2)
    unsure = _Detector([("de", 0.4), ("nl", 0.6), ("de", 0.5)])
    found = detect(unsure, audio, min_probability=0.9, max_tries=3)
    assert (found.language, found.probability, found.tries) == ("nl", 0.6, 3)
    once = _Detector([("de", 0.4)])
    assert detect(once, audio).language == "de" and once.calls == 1  # min_probability 0: whisperx's one window


def test_speakers_match_names_one_to_one_above_the_threshold():
    a, b, c = np.eye(3)
    voices = {"SPEAKER_00": a, "SPEAKER_01": 0.8 * a + 0.6 * b, "SPEAKER_02": c}
    found = match(voices, {"Ada": a, "Bob": b})
    assert found["SPEAKER_00"].name == "Ada"  # Ada is taken by her best match, not by SPEAKER_01
    assert found["SPEAKER_01"].name is None and found["SPEAKER_01"].similarity == 0.8
    assert found["SPEAKER_02"].name is None and found["SPEAKER_02"].similarity == 0.0
    assert match(voices, {"Bob": b}, threshold=0.5)["SPEAKER_01"].name == "Bob"


def test_advisories():
    assert option_warnings(TranscribeOptions(min_speakers=2)) == [
        "min_speakers ignored: speaker counts apply only with diarization=true"]
    assert option_warnings(TranscribeOptions(min_speakers=2, diarization=True)) == []
    assert "already the English translation" in option_warnings(TranscribeOptions(task="translate",
                                                                                 translate=True))[0]
    assert option_warnings(TranscribeOptions(output_formats=("json", "rttm"))) == [
        "rttm says who spoke when: with diarization=false it is empty"]
    assert option_warnings(TranscribeOptions(output_formats=("rttm",), diarization=True)) == []


@pytest.fixture(scope="module")
def multilingual(engine) -> str:
    names = [name for name in engine.registry.available_asr_models() if not name.endswith(".en")]
    if not names:
        pytest.skip("no multilingual ASR model in the test models (the open profile ships tiny.en)")
    return names[0]


@pytest.mark.slow
def test_translate_adds_a_second_pass_and_keeps_the_transcript(engine, monologue, multilingual):
    """Forced to German, the transcript is German-ish; `translate` adds the English of the same audio."""
    result = engine.transcribe(monologue.path, TranscribeOptions(model=multilingual, language="de", translate=True,
                                                                 align_output=False))
    assert result.language == "de" and "translate" in result.timings and result.translation
    translated = " ".join(segment.text for segment in result.translation)
    assert speech.word_error_rate(monologue.script, translated) < 0.3, translated
    assert all(0 <= s.start <= s.end <= result.duration + 0.5 for s in result.translation)
    assert result.to_dict()["translation_segments"][0]["text"] == result.translation[0].text


def test_words_cut_from_unspaced_text_join_back_without_spaces():
    """Whisper's timing cuts zh, ja, th, lo, my and yue at characters, wav2vec2 only ja and zh: a segment split at
    a speaker change is joined back as its language writes it."""
    from core.asr.languages import word_joiner
    from core.speakers.word_labels import split_at_speaker_changes

    assert [word_joiner(code) for code in ("th", "ja", "yue", "en", None)] == ["", "", "", " ", " "]
    assert word_joiner("th", timed_by_whisper=False) == " " and word_joiner("zh", timed_by_whisper=False) == ""
    words = [("สวัส", 0.0, 0.4, "A"), ("ดี", 0.4, 0.6, "A"), ("ครับ", 0.6, 1.0, "A"),
             ("คุณ", 1.6, 1.9, "B"), ("สบาย", 1.9, 2.3, "B"), ("ดีไหม", 2.3, 3.0, "B")]
    segment = {"start": 0.0, "end": 3.0, "text": "สวัสดีครับ คุณสบายดีไหม",
               "words": [{"word": w, "start": a, "end": b, "speaker": s} for w, a, b, s in words]}
    split = split_at_speaker_changes([segment], joiner=word_joiner("th"), settle=False)
    assert [part["text"].strip() for part in split] == ["สวัสดีครับ", "คุณสบายดีไหม"]


def test_aligned_sentences_keep_the_decoders_statistics():
    """whisperx's wav2vec2 alignment rebuilds segments (one per sentence) keeping only avg_logprob: each gets the
    statistics of the decoded segment it came from, and its own compression ratio. (No wav2vec2 model is
    installed here, so the aligned segments are written as whisperx returns them.)"""
    from core.engine import with_decoder_statistics

    decoded = [{"start": 0.0, "end": 6.0, "text": " Hello there. How are you?", "avg_logprob": -0.2,
                "no_speech_prob": 0.01, "temperature": 0.0, "compression_ratio": 1.1},
               {"start": 6.5, "end": 9.0, "text": " Fine.", "avg_logprob": -0.5, "no_speech_prob": 0.3,
                "temperature": 0.2, "compression_ratio": 0.9}]
    aligned = [{"start": 0.1, "end": 2.0, "text": "Hello there.", "words": [], "avg_logprob": -0.2},
               {"start": 2.5, "end": 5.8, "text": "How are you?", "words": [], "avg_logprob": -0.2},
               {"start": 6.6, "end": 8.8, "text": "Fine.", "words": [], "avg_logprob": -0.5}]
    filled = with_decoder_statistics(aligned, decoded)
    assert [(s["no_speech_prob"], s["temperature"]) for s in filled] == [(0.01, 0.0), (0.01, 0.0), (0.3, 0.2)]
    assert all(s["compression_ratio"] is not None for s in filled) and filled[0]["text"] == "Hello there."


def test_speakers_the_library_named_keep_their_names_beside_speaker_samples(monkeypatch):
    """A job's samples name the speakers the voice library did not: one it named (its turns already carry the
    name) is not embedded again, renamed by a sample, or reported as unmatched. The speaker model is a stand-in
    (the comparison itself is tested with real voices in tests/test_voices.py)."""
    from core import Settings
    from core.service import Service
    from core.speakers import verification
    from core.transcript.result import Result, Segment, SpeakerTurn, VoiceMatch

    result = Result(segments=(Segment(start=0.0, end=2.0, text="Hi.", speaker="SPEAKER_00"),
                              Segment(start=2.0, end=4.0, text="Hello.", speaker="SPEAKER_01")),
                    language="en", speakers=("SPEAKER_00", "SPEAKER_01"),
                    diarization=(SpeakerTurn(start=0.0, end=2.0, speaker="SPEAKER_00"),
                                 SpeakerTurn(start=2.0, end=4.0, speaker="SPEAKER_01")), duration=4.0)
    result = result.with_recognized_voices([VoiceMatch(label="SPEAKER_00", name="Ada", score=0.9),
                                            VoiceMatch(label="SPEAKER_01", name=None, score=0.1)])
    embedded: list[str] = []

    def speaker_voices(model, samples, turns):
        embedded.extend(sorted({turn.speaker for turn in turns}))
        return {speaker: None for speaker in {turn.speaker for turn in turns}}

    monkeypatch.setattr(verification, "reference_voices", lambda model, clips: ({"Ada Lovelace": None}, []))
    monkeypatch.setattr(verification, "speaker_voices", speaker_voices)
    monkeypatch.setattr(verification, "naming_threshold", lambda model: 0.5)
    monkeypatch.setattr(verification, "match", lambda voices, references, threshold: {
        label: VoiceMatch(label=label, name="Ada Lovelace", score=0.8) for label in voices})
    service = Service(Settings())
    monkeypatch.setattr(service, "speaker_embedding_model", lambda token, model: object())
    names, warnings = service.name_speakers(result, None, {"Ada Lovelace": [None]})
    assert embedded == ["SPEAKER_01"] and names == {"SPEAKER_01": "Ada Lovelace"} and warnings == []


def test_an_unreadable_voice_library_costs_the_names_not_the_transcript(tmp_path, monkeypatch):
    """A damaged library file (or one locked past its timeout) during recognition: the job's result comes back
    with a warning naming the file, not an internal error. The diarization pipeline is a stand-in (recognition
    with real voices: tests/test_voices.py)."""
    import types

    from core import engine as engine_module
    from core.speakers.voices import VoiceLibrary
    from core.transcript.result import Result, Segment

    (tmp_path / "voices.sqlite3").write_bytes(b"this is not a database" * 100)
    engine = engine_module.Engine.__new__(engine_module.Engine)
    engine.voices = VoiceLibrary(tmp_path)
    monkeypatch.setattr(engine_module, "embedding_model", lambda diarizer: object())
    monkeypatch.setattr(engine_module, "model_identity", lambda model: "CAMPPlus/192/sha256:0123456789abcdef")
    job = types.SimpleNamespace(progress=types.SimpleNamespace(check_cancelled=lambda: None), timings={})
    result = Result(segments=(Segment(start=0.0, end=1.0, text="Hi.", speaker="SPEAKER_00"),), language="en",
                    speakers=("SPEAKER_00",), duration=1.0)
    kept = engine._recognize_voices(job, None, result)
    assert kept.segments == result.segments and any("could not be read" in w for w in kept.warnings), kept.warnings
