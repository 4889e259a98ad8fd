"""Segments from a chunk decoded without timestamp tokens: its words cut at sentence ends and long pauses."""

from __future__ import annotations

from core.asr.sentences import ends_sentence, sentence_groups
from core.asr.timestamps import TimedText, WordTiming, split_timed_segments


def timed(*words: tuple[str, float, float]) -> tuple[WordTiming, ...]:
    return tuple(WordTiming(word, start, end, 0.9, 1) for word, start, end in words)


def test_sentence_ends_and_abbreviations():
    assert ends_sentence(" hands.") and ends_sentence(" police?") and ends_sentence(' "Go!"')
    assert not ends_sentence(" Mr.") and not ends_sentence(" J.") and not ends_sentence(" e.g.")
    assert not ends_sentence(" dark,") and not ends_sentence("")


def test_words_are_grouped_at_sentence_ends_and_pauses_but_not_after_abbreviations():
    words = timed((" Mr.", 0.0, 0.3), (" Hale", 0.3, 0.6), (" came.", 0.6, 1.0), (" He", 1.2, 1.4), (" sat", 1.4, 1.7),
                  (" down", 3.5, 3.9), (" slowly", 3.9, 4.4))
    groups = sentence_groups(words)
    assert [[word.word for word in group] for group in groups] == [[" Mr.", " Hale", " came."], [" He", " sat"],
                                                                  [" down", " slowly"]]


def test_a_chunk_decoded_without_timestamps_becomes_one_segment_per_sentence():
    text = TimedText(" Because they're afraid. If called, he went.")
    text.words = timed((" Because", 0.0, 0.4), (" they're", 0.4, 0.7), (" afraid.", 0.7, 1.2), (" If", 2.0, 2.2),
                       (" called,", 2.2, 2.6), (" he", 2.7, 2.8), (" went.", 2.8, 3.1))
    text.tokens = tuple(range(7))
    segments = split_timed_segments([{"start": 10.0, "end": 14.0, "text": text, "avg_logprob": -0.2}])
    assert [segment["text"] for segment in segments] == [" Because they're afraid.", " If called, he went."]
    assert segments[0]["start"] == 10.0 and segments[0]["end"] == 11.2
    assert segments[1]["start"] == 12.0 and segments[1]["end"] == 13.1
    assert [word["word"] for word in segments[1]["words"]] == ["If", "called,", "he", "went."]
    assert segments[0]["tokens"] == [0, 1, 2] and segments[1]["tokens"] == [3, 4, 5, 6]


def test_no_ends_a_sentence_unless_a_number_follows():
    """"No." is one of speech's commonest sentences (Spanish, Italian and Portuguese too): the English abbreviation
    list kept it joined to whatever followed. As an abbreviation it comes before a number ("No. 5")."""
    assert ends_sentence(" No.") and ends_sentence(" No.", " Me") and not ends_sentence(" No.", " 5")
    assert ends_sentence(" sat.", " The") and not ends_sentence(" Fig.", " 3") and not ends_sentence(" Mr.", " Hale")
    assert not ends_sentence(" Vol.", " II") and not ends_sentence(" Fig.", " (3)")
    assert not ends_sentence(" No.", ' "5"')
    assert ends_sentence(" No.", " I") and ends_sentence(" No.", " mix")  # the pronoun, not a Roman one
    words = timed((" ¿Vienes?", 0.0, 0.6), (" No.", 0.8, 1.0), (" Me", 1.2, 1.3), (" quedo", 1.3, 1.6),
                  (" en", 1.6, 1.7), (" casa.", 1.7, 2.1), (" Room", 2.5, 2.8), (" No.", 2.8, 3.0), ("", 3.0, 3.0),
                  (" 5.", 3.0, 3.3))
    groups = [[word.word for word in group] for group in sentence_groups(words)]
    assert groups == [[" ¿Vienes?"], [" No."], [" Me", " quedo", " en", " casa."], [" Room", " No.", "", " 5."]]
