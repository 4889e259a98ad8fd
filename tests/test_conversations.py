"""The joined conversations of the quality set (bench/conversations.py, bench/quality/conversations.json): what the
spec promises (splits, conditions, speakers, lengths), that a build is deterministic, that the committed references
are what the spec yields and agree with the built audio, and the voice-library bookkeeping of
bench/quality_speakers.py. No models: the builder needs numpy, soundfile and ffmpeg only."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from bench import conversations as conv
from bench import quality_speakers
from bench.quality_metrics import Unit, wer_words
from bench.quality_runs import Output, load_set

CONDITIONS = {"clean", "quick", "quiet", "phone", "noise", "softer", "mp3", "interject"}


@pytest.fixture(scope="module")
def spec() -> dict:
    return conv.load_spec()


@pytest.fixture(scope="module")
def built() -> list[tuple[conv.Conversation, dict]]:
    return conv.conversations()


def speaker_of(spec: dict, name: str) -> str:
    piece = spec["pieces"].get(name)
    return spec["utterances"][piece["utterance"] if piece else name]["speaker"]


def decoded(path: Path) -> np.ndarray:
    raw = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-f", "f32le", "-ac", "1", "-"],
                         capture_output=True, check=True).stdout
    return np.frombuffer(raw, dtype=np.float32)


def test_every_split_has_one_conversation_per_condition_and_no_speaker_in_both(spec):
    by_split = Counter((entry["split"], entry["condition"]) for entry in spec["conversations"])
    assert by_split == {(split, condition): 1 for split in ("dev", "heldout") for condition in CONDITIONS}
    for split in ("dev", "heldout"):
        people = {speaker_of(spec, turn["utterance"]) for entry in spec["conversations"] if entry["split"] == split
                  for turn in entry["turns"]}
        assert len(people) >= 9 and {spec["speakers"][p]["sex"] for p in people} == {"F", "M"}
        assert all(spec["speakers"][p]["split"] == split for p in people)
    assert sum(speaker["sex"] == "F" for speaker in spec["speakers"].values()) >= 8
    assert len(spec["speakers"]) >= 18


def test_each_split_has_two_women_together_and_two_men_in_a_quick_three_way_exchange(spec):
    for split in ("dev", "heldout"):
        entries = [entry for entry in spec["conversations"] if entry["split"] == split]
        sexes = [Counter(spec["speakers"][s]["sex"] for s in {speaker_of(spec, t["utterance"]) for t in e["turns"]})
                 for e in entries]
        assert any(count["F"] >= 2 for count in sexes)
        quick = next(entry for entry in entries if entry["condition"] == "quick")
        people = {speaker_of(spec, turn["utterance"]) for turn in quick["turns"]}
        assert len(people) == 3 and sum(spec["speakers"][p]["sex"] == "M" for p in people) >= 2


def test_conversations_keep_their_promises(built):
    for conversation, entry in built:
        assert 30 <= conversation.duration_s <= 60, conversation.id
        gaps = [b.start - a.end for a, b in zip(conversation.turns, conversation.turns[1:], strict=False)]
        assert min(gaps) >= 0.1 - 1e-6 and max(gaps) <= 0.8 + 1e-6, conversation.id  # no overlap, real gaps
        if entry["condition"] == "quick":
            assert max(gaps) <= 0.25 + 1e-6 and max(t.end - t.start for t in conversation.turns) < 6
        if entry["condition"] == "interject":
            others = [t for t in conversation.turns if t.speaker != entry["dominant"]]
            assert len(others) >= 3 and all(t.end - t.start <= conv.INTERJECTION_MAX_S for t in others)


def test_pieces_are_their_utterances_words_in_order(spec):
    for piece in spec["pieces"].values():
        whole, part = wer_words(spec["utterances"][piece["utterance"]]["text"]), wer_words(piece["text"])
        assert any(whole[i:i + len(part)] == part for i in range(len(whole))), piece


def test_the_committed_references_are_what_the_spec_yields():
    assert conv.check_references() == []


def test_the_manifest_lists_every_conversation_with_its_references(spec):
    manifest = json.loads((conv.QUALITY_DIR / "manifest.json").read_text())
    joined = {entry["id"]: entry for entry in manifest["clips"] if entry.get("build") == "conversations"}
    assert set(joined) == {entry["id"] for entry in spec["conversations"]}
    for entry in spec["conversations"]:
        listed = joined[entry["id"]]
        assert listed["split"] == entry["split"] and listed["condition"] == entry["condition"]
        for key in ("rttm", "text", "turns"):
            assert (conv.QUALITY_DIR / listed[key]).is_file()


def test_references_agree_with_the_built_audio(tmp_path):
    """Turns sit where the speech is (much louder than the gaps), inside the recording, whose length, rate and
    format are the condition's."""
    names = ["conv-dev-clean", "conv-heldout-phone", "conv-dev-mp3"]
    paths = {path.stem: path for path in conv.build(tmp_path, only=names)}
    for conversation, _ in conv.conversations(only=names):
        path = paths[conversation.id]
        turns = json.loads((conv.QUALITY_DIR / "reference" / f"{conversation.id}.turns.json").read_text())
        assert turns["turns"] == [turn.to_dict() for turn in conversation.turns]
        rate = 8000 if conversation.condition == "phone" else 16000
        probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_name,sample_rate", "-of",
                                "csv=p=0", str(path)], capture_output=True, text=True, check=True).stdout.strip()
        assert probe == {"phone": "pcm_mulaw,8000", "mp3": "mp3,16000"}.get(conversation.condition, "flac,16000")
        samples = decoded(path)
        assert len(samples) / rate == pytest.approx(turns["duration_s"], abs=0.001)
        assert turns["turns"][-1]["end"] < turns["duration_s"]
        inside = np.zeros(len(samples), dtype=bool)
        for turn in turns["turns"]:
            inside[int(turn["start"] * rate):int(turn["end"] * rate)] = True
        level = 10 * np.log10(np.mean(samples[inside] ** 2) / np.mean(samples[~inside] ** 2))
        assert level > 30, (conversation.id, level)  # the gaps hold only the −70 dBFS floor


def test_speech_spans_leave_out_pauses_of_a_third_of_a_second():
    """A voice, a 0.5 s pause, the voice again, a 0.1 s pause, the voice: two stretches of speech (the short pause
    stays inside one, as NIST's references keep pauses under 0.3 s)."""
    rate = conv.SAMPLE_RATE
    tone = (0.3 * np.sin(2 * np.pi * 220 * np.arange(rate) / rate)).astype(np.float32)
    pause = np.full(int(0.5 * rate), 1e-4, dtype=np.float32)
    short = np.full(int(0.1 * rate), 1e-4, dtype=np.float32)
    spans = conv.speech_spans(np.concatenate([tone, pause, tone, short, tone]))
    assert len(spans) == 2, spans
    (a, b), (c, d) = spans
    assert a == 0.0 and b == pytest.approx(1.0 + conv.EDGE_S, abs=0.03)
    assert c == pytest.approx(1.5 - conv.EDGE_S, abs=0.03) and d == pytest.approx(3.6, abs=0.03)


def test_rttm_marks_each_turns_speech_and_no_pause_of_a_third_of_a_second(built):
    for conversation, _ in built:
        lines = conv.rttm(conversation).splitlines()
        assert len(lines) == sum(len(turn.speech) for turn in conversation.turns) >= len(conversation.turns)
        for turn in conversation.turns:
            assert turn.speech and turn.start <= turn.speech[0][0] and turn.speech[-1][1] <= turn.end
            for (_, end), (start, _) in zip(turn.speech, turn.speech[1:], strict=False):
                assert start - end >= conv.PAUSE_S, (conversation.id, turn.utterance)
            assert sum(b - a for a, b in turn.speech) >= 0.6 * (turn.end - turn.start), turn.utterance


def test_building_twice_gives_the_same_bytes(tmp_path):
    names = ["conv-dev-noise", "conv-heldout-mp3", "conv-heldout-phone"]
    first = {path.name: path.read_bytes() for path in conv.build(tmp_path / "a", only=names)}
    second = {path.name: path.read_bytes() for path in conv.build(tmp_path / "b", only=names)}
    assert len(first) == 3 and first == second


def test_conditions_change_levels_as_specified(built):
    spoken = {c.id: c for c, _ in built}

    def speech_level(conversation: conv.Conversation, keep=lambda speaker: True) -> float:
        parts = [conversation.samples[int(t.start * 16000):int(t.end * 16000)] for t in conversation.turns
                 if keep(t.speaker)]
        return conv.speech_rms_db(np.concatenate(parts))

    assert speech_level(spoken["conv-dev-quiet"]) == pytest.approx(-30.0, abs=1.0)
    assert speech_level(spoken["conv-dev-clean"]) == pytest.approx(conv.SPEECH_DBFS, abs=1.0)
    softer = spoken["conv-heldout-softer"]
    others, soft = speech_level(softer, lambda s: s != "ls-2033"), speech_level(softer, lambda s: s == "ls-2033")
    assert others - soft == pytest.approx(10.0, abs=1.0)


def test_the_quality_set_loads_the_built_conversations(tmp_path):
    clips = load_set(only=("conv-dev-clean", "conv-heldout-mp3"), build_dir=tmp_path)
    assert [clip.audio.name for clip in clips] == ["conv-dev-clean.flac", "conv-heldout-mp3.mp3"]
    assert all(clip.audio.is_file() for clip in clips)
    clean = clips[0]
    assert clean.reference_speakers() == 2 and clean.condition == "clean"
    assert len(clean.reference_turns()) == 8 and clean.transcript().startswith("i really liked that account")


def test_enrolment_plan_enrols_recurring_speakers_from_their_first_conversation(spec):
    plan = quality_speakers.enrolment_plan(spec, [entry["id"] for entry in spec["conversations"]])
    assert plan["ls-1688"] == ("conv-dev-clean", ["1688-142285-0003", "1688-142285-0004", "1688-142285-0007",
                                                  "1688-142285-0002"])
    assert "vctk-p229" not in plan and "ls-8266" not in plan  # in one conversation only: strangers
    assert plan["lj"][0] == "conv-dev-quiet"  # LJ's interjection is a piece: enrolled from whole utterances
    assert {spec["speakers"][s]["split"] for s in plan} == {"dev", "heldout"}


def test_naming_counts_a_speakers_words_by_the_name_the_transcript_gives_them(tmp_path):
    clip = load_set(only=("conv-dev-clean",), build_dir=tmp_path)[0]
    turns = clip.reference_turns()
    units = []
    for index, turn in enumerate(turns):
        name = {"ls-1688": "ls-1688", "ls-1998": "SPEAKER_01" if index < 3 else "ls-3331"}[turn["speaker"]]
        units += [Unit(turn["start"], turn["end"], word, name) for word in turn["text"].split()]
    counts = quality_speakers.naming(clip, Output(tuple(units), None, ""), {"ls-1688": "x", "ls-3331": "y"})
    words_1998 = [len(wer_words(t["text"])) for t in turns if t["speaker"] == "ls-1998"]
    assert counts["ls-1688"]["named"] == counts["ls-1688"]["words"] > 0
    assert counts["ls-1998"]["named"] == 0
    assert counts["ls-1998"]["misnamed"] == sum(words_1998) - words_1998[0]  # its first turn stays unnamed


def test_new_dev_mixes_for_tuning_the_voice_check_use_dev_voices_only(tmp_path):
    """bench.tune_voice_check's extra conversations: one per condition, seeded (the same twice), every voice a dev
    voice, every reference written, each mix valid by the same rules as the committed conversations."""
    import json

    from bench.tune_voice_check import CONDITIONS, build_mixes

    spec = conv.load_spec()
    clips = build_mixes(tmp_path / "a", 1)
    again = build_mixes(tmp_path / "b", 1)
    assert [clip.id for clip in clips] == [clip.id for clip in again]
    assert [clip.condition for clip in clips] == list(CONDITIONS)
    for clip, twin in zip(clips, again, strict=True):
        assert clip.audio.is_file() and clip.split == "dev"
        turns = json.loads(clip.turns.read_text(encoding="utf-8"))["turns"]
        assert turns == json.loads(twin.turns.read_text(encoding="utf-8"))["turns"]
        assert {spec["speakers"][turn["speaker"]]["split"] for turn in turns} == {"dev"}
        assert 2 <= len(clip.reference().labels()) <= 4 and 30.0 <= clip.duration_s() <= 60.0
