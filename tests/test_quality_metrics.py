"""The quality report's measures (bench/quality_metrics.py) on small hand-computed cases, and the quality set's
manifest (every file present, dev and held-out apart, no meeting on both sides)."""

from __future__ import annotations

import json
import math

import pytest

from bench import quality_metrics as qm
from bench.quality_runs import QUALITY_DIR, load_set

# Reference: A speaks 0-10 s, B 10-20 s, in a 25 s clip.
REFERENCE = qm.annotation([(0.0, 10.0, "A"), (10.0, 20.0, "B")], "clip")


def units(*spans: tuple[float, float, str | None]) -> list[qm.Unit]:
    return [qm.Unit(start, end, "word", speaker) for start, end, speaker in spans]


def test_der_splits_into_missed_false_alarm_and_confusion_by_hand():
    # X 0-8 (2 s of A missed), Y 10-15, X 15-17 (2 s of B given to A's cluster), Y 17-22 (2 s false alarm).
    hypothesis = qm.units_annotation(units((0, 8, "X"), (10, 15, "Y"), (15, 17, "X"), (17, 22, "Y")))
    scored = qm.score(qm.scorer(0.0, skip_overlap=False), REFERENCE, hypothesis, 25.0)
    assert scored["missed detection"] == pytest.approx(2.0)
    assert scored["false alarm"] == pytest.approx(2.0)
    assert scored["confusion"] == pytest.approx(2.0)
    assert scored["total"] == pytest.approx(20.0)
    assert scored["der"] == pytest.approx(0.3)


def test_collar_is_the_nist_half_width_around_every_reference_boundary():
    hypothesis = qm.units_annotation(units((0, 8, "X"), (10, 15, "Y"), (15, 17, "X"), (17, 22, "Y")))
    scored = qm.score(qm.scorer(0.25, skip_overlap=False), REFERENCE, hypothesis, 25.0)
    # ±0.25 s removed around 0, 10 and 20 s: 19 s scored; 8-9.75 missed, 20.25-22 false alarm, 15-17 confused.
    assert scored["total"] == pytest.approx(19.0)
    assert scored["missed detection"] == pytest.approx(1.75)
    assert scored["false alarm"] == pytest.approx(1.75)
    assert scored["der"] == pytest.approx(5.5 / 19)


def test_overlapped_speech_is_left_out_on_request():
    reference = qm.annotation([(0, 10, "A"), (5, 15, "B")])
    one_voice = qm.annotation([(0, 15, "X")])
    with_overlap = qm.score(qm.scorer(0.0, skip_overlap=False), reference, one_voice, 15.0)
    assert with_overlap["missed detection"] == pytest.approx(5.0)  # the second voice in 5-10 s
    assert with_overlap["der"] == pytest.approx(10 / 20)  # + 5 s of B (or A) confused
    without = qm.score(qm.scorer(0.0, skip_overlap=True), reference, one_voice, 15.0)
    assert without["total"] == pytest.approx(10.0) and without["missed detection"] == 0.0
    assert without["confusion"] == pytest.approx(5.0)


def test_speech_outside_the_reference_is_false_alarm_and_unlabelled_words_are_missed():
    hypothesis = qm.units_annotation(units((0, 10, "X"), (10, 20, None), (21, 24, "X")))
    scored = qm.score(qm.scorer(0.0, skip_overlap=False), REFERENCE, hypothesis, 25.0)
    assert scored["false alarm"] == pytest.approx(3.0)
    assert scored["missed detection"] == pytest.approx(10.0)  # words without a speaker do not say who spoke
    assert scored["confusion"] == 0.0


def test_zero_length_words_cover_nothing():
    assert len(qm.units_annotation(units((3.0, 3.0, "A"), (4.0, 3.5, "A")))) == 0


def test_pooled_der_sums_parts_over_files():
    metric = qm.scorer(0.0, skip_overlap=False)
    qm.score(metric, REFERENCE, qm.annotation([(0, 10, "X"), (10, 20, "Y")]), 20.0)  # perfect: 0 of 20 s
    other = qm.annotation([(0, 5, "A")], "other")
    qm.score(metric, other, qm.annotation([], "other"), 5.0)  # all 5 s missed
    pooled = qm.pooled(metric)
    assert pooled["total"] == pytest.approx(25.0) and pooled["missed detection"] == pytest.approx(5.0)
    assert pooled["der"] == pytest.approx(0.2)


def test_speech_coverage_counts_reference_speech_under_some_word_once():
    reference = qm.annotation([(0, 10, "A"), (12, 14, "B"), (13, 14, "A")])  # 12 s of speech
    covered = qm.speech_coverage(reference, units((1, 3, "A"), (2, 4, "A"), (13, 20, "B"), (11, 11.5, "B")))
    assert covered == pytest.approx(4 / 12)  # 1-4 s and 13-14 s; words over silence add nothing


def test_longest_loop_finds_repeated_words_and_ngrams():
    assert qm.longest_loop(qm.tokens("Yeah, " * 13 + "right.")) == (13, "yeah")
    assert qm.longest_loop(qm.tokens("so I mean I mean I mean it works")) == (3, "i mean")
    assert qm.longest_loop(qm.tokens("ask not what your country can do")) == (1, "ask")
    assert qm.longest_loop([]) == (0, "")


def test_speakers_found_ignores_unlabelled_units():
    assert qm.speakers_found(units((0, 1, "A"), (1, 2, None), (2, 3, "B"), (3, 4, "A"))) == 2


def test_manifest_files_exist_and_no_meeting_straddles_the_split():
    clips = load_set()
    assert {clip.split for clip in clips} == {"dev", "heldout"}
    assert len(clips) >= 10
    for clip in clips:
        assert clip.audio.is_file() and clip.duration_s() > 5
        assert clip.rttm or clip.text, clip.id
        if clip.rttm:
            reference = clip.reference()
            assert reference.labels() and reference.get_timeline().extent().end <= clip.duration_s() + 0.01
        if clip.speaker_texts:  # a meeting's words per participant: the same participants as its turns
            assert set(clip.speaker_transcripts()) == set(clip.reference().labels()), clip.id
    splits_of_group: dict[str, set[str]] = {}
    for clip in clips:
        splits_of_group.setdefault(clip.group, set()).add(clip.split)
    assert all(len(splits) == 1 for splits in splits_of_group.values()), splits_of_group
    manifest = json.loads((QUALITY_DIR / "manifest.json").read_text())
    assert all((QUALITY_DIR / "SOURCES.md").read_text().count(entry["audio"].split("/")[-1].split("-")[0]) > 0
               for entry in manifest["clips"])
    with pytest.raises(ValueError, match="no clip"):
        load_set(only=("nonexistent",))


def test_wer_words_spell_titles_and_numbers_as_transcribers_do():
    assert qm.wer_words("Mr. Hale paid 6 pounds in the 15th century, 670 third") == [
        "mister", "hale", "paid", "six", "pounds", "in", "the", "fifteenth", "century", "six", "hundred", "seventy",
        "third"]
    assert qm.wer_words("the 1st, 2nd, 22nd and 40th") == ["the", "first", "second", "twenty", "second", "and",
                                                           "fortieth"]
    assert qm.wer_words("Shop-boy, 'tis") == ["shop", "boy", "'tis"]


def test_hesitations_are_not_words():
    assert qm.wer_words("Mm-hmm. Uh, I think, um, yes. Hmm.") == ["i", "think", "yes"]


def test_cp_word_errors_pair_speakers_by_the_fewest_edits():
    reference = {"FEE1": "so the remote has buttons", "MEE2": "yeah right", "MEO3": "okay"}
    transcript = [qm.Unit(0, 1, "So the remote", "B"), qm.Unit(1, 2, "yeah right", "A"),
                  qm.Unit(2, 3, "has a button.", "B"), qm.Unit(3, 4, "Hello", None)]
    # FEE1 ↔ B: "so the remote has a button" (1 substitution, 1 insertion); MEE2 ↔ A: exact; MEO3 ↔ the unlabelled
    # words: "hello" for "okay" (1 substitution). Any other pairing costs more.
    assert qm.cp_word_errors(reference, transcript) == (3, 8)
    # A speaker the transcript never separated: its words, given to another, count in full against that pairing.
    merged = [qm.Unit(0, 1, "so the remote has buttons yeah right okay", "A")]
    assert qm.cp_word_errors(reference, merged) == (6, 8)  # FEE1 ↔ A: 3 insertions; MEE2, MEO3 unpaired: 3 deleted


def test_alignment_pairs_words_with_the_fewest_edits_and_the_most_matches():
    reference, hypothesis = "the cat sat on the mat".split(), "the cat sat sat on mat".split()  # noqa: SIM905
    pairs = qm.align(reference, hypothesis)
    assert len(pairs) == 7 and sum(1 for r, h in pairs if r is None or h is None) == 2  # one insertion, one deletion
    assert qm.hits(reference, hypothesis) == [0, 1, 3, 4, None, 5]  # "on" and "mat" are matches, not substitutions
    assert qm.word_errors("the cat sat on the mat", "the cat sat sat on mat") == (2, 6)
    assert qm.word_errors("Mr. Quilter is 6", "mister quilter is six") == (0, 4)
    assert qm.align([], ["a"]) == [(None, 0)] and qm.align(["a"], []) == [(0, None)]


def test_alignment_edit_count_agrees_with_the_plain_levenshtein_distance():
    import random

    from tests.speech import levenshtein

    chooser = random.Random(3)
    for _ in range(200):
        reference = [chooser.choice("abcd") for _ in range(chooser.randrange(0, 9))]
        hypothesis = [chooser.choice("abcd") for _ in range(chooser.randrange(0, 9))]
        pairs = qm.align(reference, hypothesis)
        edits = sum(1 for r, h in pairs if r is None or h is None or reference[r] != hypothesis[h])
        assert edits == levenshtein(reference, hypothesis)
        assert [r for r, _ in pairs if r is not None] == list(range(len(reference)))
        assert [h for _, h in pairs if h is not None] == list(range(len(hypothesis)))


TURNS = ["when however zarathustra was quite nigh unto them", "what do i here seek", "but behold these kine"]


def test_a_turn_the_transcript_dropped_is_missing():
    hypothesis = "when however zarathustra was quite nigh unto them but behold these kine"
    assert qm.missing_turns(TURNS, hypothesis) == [1]


def test_a_turn_swallowed_into_the_previous_sentence_is_present_when_its_words_are_there():
    hypothesis = "When, however, Zarathustra was quite nigh unto them, what do I here seek? But behold these kine."
    assert qm.missing_turns(TURNS, hypothesis) == []


def test_a_turn_is_missing_when_fewer_than_half_of_its_words_are_hits():
    assert qm.missing_turns(TURNS, TURNS[0] + " what do i there look " + TURNS[2]) == []  # 3 of 5 hits
    assert qm.missing_turns(TURNS, TURNS[0] + " what do you see " + TURNS[2]) == [1]  # 2 of 5
    assert qm.missing_turns(["a b c d"], "a b x y") == [] and qm.missing_turns(["a b c d"], "a x y z") == [0]
    assert qm.missing_turns(TURNS, "") == [0, 1, 2]


def test_equal_error_rate_by_hand():
    assert qm.equal_error_rate([0.8, 0.9], [0.1, 0.2]) == (0.0, 0.8)  # apart: no error at 0.8
    eer, threshold = qm.equal_error_rate([0.7, 0.8, 0.9], [0.1, 0.2, 0.75])
    assert eer == pytest.approx(1 / 3) and threshold == 0.75  # one of three on each side of 0.75
    assert qm.equal_error_rate([0.5, 0.6], [0.7, 0.8])[0] == pytest.approx(1.0)  # inverted scores
    # A tie at 0.6: at most 0.6 no miss and 1/2 false accepts, above it 1/2 misses and none; the EER is where the
    # line between those two operating points crosses the diagonal.
    assert qm.equal_error_rate([0.6, 0.9], [0.1, 0.6])[0] == pytest.approx(0.25)
    assert math.isnan(qm.equal_error_rate([], [0.1])[0])


def test_score_summary():
    assert qm.score_summary([0.5, 0.7, 0.9]) == {"count": 3, "mean": pytest.approx(0.7), "min": 0.5, "max": 0.9}
    assert qm.score_summary([])["count"] == 0


def test_the_report_scores_a_meeting_with_each_participants_words_by_cpwer():
    """The held-out AMI meeting minute through the report, with transcripts made from its own references: its
    participants' words under other labels score 0 cpWER (any labels: the pairing finds them); the same words
    with two participants merged into one label are charged for that."""
    from bench import quality_report
    from bench.quality_runs import Output

    (clip,) = load_set(splits=("heldout",), only=("ami-es2004-mix",))
    words = clip.speaker_transcripts()
    turns = {speaker: next(segment for segment, _, who in clip.reference().itertracks(yield_label=True)
                           if who == speaker) for speaker in words}

    def output(label: dict[str, str]) -> Output:
        units = tuple(qm.Unit(turns[speaker].start, turns[speaker].end, text, label[speaker])
                      for speaker, text in words.items())
        return Output(units=units, turns=None, text=" ".join(words.values()))

    exact = output({speaker: f"SPEAKER_0{index}" for index, speaker in enumerate(words)})
    merged = output({speaker: "SPEAKER_00" if speaker in ("FEE013", "FEE016") else speaker for speaker in words})
    text, figures = quality_report.report([clip], {"ours": {clip.id: exact}, "whisperx": {clip.id: merged}})
    rows = {row["system"]: row for row in figures["rows"]}
    assert rows["ours"]["cpwer"] == 0.0 and rows["ours"]["cpwer_words"] == 220 and math.isnan(rows["ours"]["wer"])
    fee013, fee016 = (len(qm.wer_words(words[speaker])) for speaker in ("FEE013", "FEE016"))
    # Paired with one of the two, the label carries the other's words as insertions, and the other, unpaired, has
    # all its words deleted: charged twice, the fewer of the two.
    assert rows["whisperx"]["cpwer_edits"] == 2 * min(fee013, fee016)
    assert "## Meetings with each participant's words, heldout: pooled over 1" in text
    assert "| ami-es2004-mix | ours | – | 0.0 |" in text and "| ours | 0.0 | 1/1 meetings |" in text
