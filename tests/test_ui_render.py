"""The page's pure parts, no server: HTML views of a result (ui.render) and controls derived from the options."""

from __future__ import annotations

import dataclasses
import re

import pytest

from core import Result, TranscribeOptions
from core.options import field_type, option_fields
from core.transcript.result import Segment, SpeakerTurn, Word
from ui import controls, render

DEFAULT_MODEL = "tiny.en"
LANGUAGES = {"en": "english", "de": "german", "ja": "japanese"}


def _segment(start: float, end: float, text: str, speaker: str | None = None, words: tuple[Word, ...] = ()) -> Segment:
    return Segment(start=start, end=end, text=text, speaker=speaker, words=words)


@pytest.fixture
def dialogue() -> Result:
    """Two speakers, three segments (A, A, B), with words and diarization turns."""
    words = (Word(word="Hello", start=0.5, end=0.9, speaker="SPEAKER_00"),
             Word(word="there.", start=1.0, end=1.4, speaker="SPEAKER_00"))
    return Result(
        segments=(_segment(0.5, 1.4, "Hello there.", "SPEAKER_00", words),
                  _segment(1.6, 3.0, "How are you?", "SPEAKER_00"),
                  _segment(3.5, 5.0, "Fine, thanks.", "SPEAKER_01")),
        language="en", speakers=("SPEAKER_00", "SPEAKER_01"),
        diarization=(SpeakerTurn(start=0.4, end=3.1, speaker="SPEAKER_00"),
                     SpeakerTurn(start=3.4, end=5.1, speaker="SPEAKER_01")),
        duration=10.0, model="tiny.en", device="cpu", compute_type="int8", timings={"total": 1.25},
    )


# ---- escaping ---------------------------------------------------------------------------------------------
def test_transcript_text_is_escaped():
    hostile = "<script>alert('x')</script> & <img src=x onerror=alert(1)>"
    result = Result(segments=(_segment(0.0, 1.0, hostile),), language="en")
    page = render.render_view(result)
    assert "<script>" not in page and "<img" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &lt;img src=x onerror=alert(1)&gt;" in page


def test_words_speaker_names_warnings_and_model_are_escaped(dialogue):
    hostile = '<b onmouseover="x()">Eve</b>'
    word = Word(word="<i>hi</i>", start=0.5, end=0.9, speaker="SPEAKER_00")
    result = dataclasses.replace(
        dialogue, segments=(_segment(0.5, 0.9, "<i>hi</i>", "SPEAKER_00", (word,)),),
        warnings=("<u>careful</u>",), model="<m>",
    ).with_speaker_names({"SPEAKER_00": hostile})
    page = render.render_view(result, audio_url='gradio_api/file=/tmp/a"b.wav')
    for raw in ("<i>", "<u>", "<b ", "<m>", 'a"b'):
        assert raw not in page, raw
    assert "&lt;b onmouseover=&quot;x()&quot;&gt;Eve&lt;/b&gt;" in page
    assert "&lt;i&gt;hi&lt;/i&gt;" in page and "&lt;u&gt;careful&lt;/u&gt;" in page


# ---- transcript: turns, words, times ----------------------------------------------------------------------
def test_consecutive_segments_of_one_speaker_form_one_turn(dialogue):
    turns = render.merge_turns(dialogue.segments)
    assert [(t.speaker, t.start, t.end, len(t.segments)) for t in turns] == [
        ("SPEAKER_00", 0.5, 3.0, 2), ("SPEAKER_01", 3.5, 5.0, 1)]


def test_alternating_speakers_and_unlabelled_segments_stay_separate():
    segments = (_segment(0, 1, "a", "A"), _segment(1, 2, "b", "B"), _segment(2, 3, "c", "A"),
                _segment(3, 4, "d"), _segment(4, 5, "e"))
    turns = render.merge_turns(segments)
    assert [t.speaker for t in turns] == ["A", "B", "A", None, None]


def test_turn_blocks_show_name_colour_times_and_seek_targets(dialogue):
    html = render.render_transcript(dialogue)
    blocks = re.findall(r'<div class="wx-turn wx-group" role="listitem" style="--wx-color:(#[0-9a-f]{6})" '
                        r'data-start="([\d.]+)" data-end="([\d.]+)" data-first="(\d+)" data-last="(\d+)">'
                        r'<button type="button" class="wx-turn-head" '
                        r'data-start="([\d.]+)"><span class="wx-sr">Play from </span><span class="wx-speaker">'
                        r'<span class="wx-swatch" style="background:(#[0-9a-f]{6})" aria-hidden="true"></span>'
                        r'([^<]+)</span><span class="wx-time">([^<]+)</span></button>', html)
    assert blocks == [
        (render.PALETTE[0], "0.500", "3.000", "0", "1", "0.500", render.PALETTE[0], "SPEAKER_00", "0:00.5 – 0:03.0"),
        (render.PALETTE[1], "3.500", "5.000", "2", "2", "3.500", render.PALETTE[1], "SPEAKER_01", "0:03.5 – 0:05.0"),
    ]  # data-first/data-last: the turn's segments in the result, for the editor
    assert "Hello there." not in html, "aligned words are rendered one by one"
    word = ('<button type="button" class="wx-word" tabindex="-1" data-start="{}" data-seg="{}" data-word="{}">{}'
            '</button>')
    assert word.format("0.500", 0, 0, "Hello") + " " + word.format("1.000", 0, 1, "there.") in html
    assert word.format("1.600", 1, 0, "How are you?") in html, "a segment without word times is one seek button"
    assert 'data-speakers="[&quot;SPEAKER_00&quot;, &quot;SPEAKER_01&quot;]"' in html, "the editor's speaker menu"
    assert "wx-edited" not in html


def test_corrected_turns_are_marked(dialogue):
    import dataclasses

    edited = dataclasses.replace(dialogue, segments=(dataclasses.replace(dialogue.segments[0], edited=True),
                                                     *dialogue.segments[1:]))
    html = render.render_transcript(edited)
    assert html.count('<span class="wx-edited">edited</span>') == 1
    assert "Fine, thanks." in html


def test_every_seek_target_is_a_button_with_a_name(dialogue):
    """Keyboard and screen-reader users seek with buttons: each element with a time is a <button> (Enter and
    Space press it) whose name says what it plays; the turn body is the only non-button with a time (mouse)."""
    page = render.render_view(dialogue, audio_url="gradio_api/file=/tmp/x.wav")
    targets = re.findall(r"<(\w+) ([^>]*data-start=[^>]*)>([^<]*)", page)
    assert targets
    for tag, attributes, text in targets:
        if 'class="wx-turn wx-group"' in attributes:
            continue
        assert tag == "button" and 'type="button"' in attributes, attributes
        assert text.strip() or "aria-label=" in attributes or "wx-turn-head" in attributes, attributes
    bars = re.findall(r'<button type="button" class="wx-bar" data-start="[\d.]+" data-end="[\d.]+"( tabindex="-1")? '
                      r'aria-label="Play from ([^"]+)"', page)
    assert bars == [("", "SPEAKER_00, 0:00.4 – 0:03.1"), ("", "SPEAKER_01, 0:03.4 – 0:05.1")], \
        "each lane's first bar is in the tab order"


def test_plain_transcript_has_speakers_and_times(dialogue):
    text = render.plain_transcript(dialogue.with_speaker_names({"SPEAKER_01": "Ada"}))
    assert text == ("[0:00.5 – 0:03.0] SPEAKER_00: Hello there. How are you?\n"
                    "[0:03.5 – 0:05.0] Ada: Fine, thanks.\n")
    page = render.render_view(dialogue)
    assert '<template class="wx-plain">[0:00.5 – 0:03.0] SPEAKER_00: Hello there.' in page
    assert render.plain_transcript(Result(segments=(), language="en")) == ""


def test_the_head_has_player_search_follow_and_copy(dialogue):
    page = render.render_view(dialogue, audio_url="gradio_api/file=/tmp/x.wav")
    head = page[page.index('<div class="wx-head">'):page.index('<div class="wx-summary">')]
    assert '<audio class="wx-audio" controls preload="metadata" aria-label="Recording"' in head
    assert 'type="search" class="wx-search"' in head and 'aria-label="Search the transcript"' in head
    assert 'class="wx-follow" checked' in head and ">Copy transcript</button>" in head
    assert "wx-follow" not in render.render_view(dialogue), "nothing to follow without a player"


def test_words_without_times_are_plain_and_spaceless_languages_join_without_spaces():
    words = (Word(word="今日は", start=0.0, end=0.5), Word(word="晴れ", start=None, end=None))
    result = Result(segments=(_segment(0, 1, "今日は晴れ", words=words),), language="ja")
    html = render.render_transcript(result)
    assert ('<button type="button" class="wx-word" tabindex="-1" data-start="0.000" data-seg="0" data-word="0">今日は'
            '</button><span data-seg="0" data-word="1">晴れ</span>') in html


def test_no_speaker_turns_use_the_neutral_colour_and_no_name():
    html = render.render_transcript(Result(segments=(_segment(0, 1, "solo"),), language="en"))
    assert f"--wx-color:{render.NO_SPEAKER_COLOR}" in html and "wx-speaker" not in html


def test_empty_results_say_so():
    assert "Transcribe" in render.render_view(None)
    assert "No speech" in render.render_transcript(Result(segments=(), language="en"))


@pytest.mark.parametrize(("seconds", "text"), [(0, "0:00.0"), (5.25, "0:05.2"), (65.0, "1:05.0"),
                                               (3725.5, "1:02:05.5"), (-1, "0:00.0")])
def test_format_time(seconds, text):
    assert render.format_time(seconds) == text


# ---- timeline ---------------------------------------------------------------------------------------------
def test_timeline_has_a_lane_per_speaker_and_a_bar_per_turn(dialogue):
    html = render.render_timeline(dialogue)
    lanes = re.findall(r'<span class="wx-lane-name"><span class="wx-swatch" style="background:(#[0-9a-f]{6})" '
                       r'aria-hidden="true"></span>([^<]+)</span>', html)
    assert lanes == [(render.PALETTE[0], "SPEAKER_00"), (render.PALETTE[1], "SPEAKER_01")]
    bars = re.findall(r'class="wx-bar" data-start="([\d.]+)" data-end="[\d.]+" aria-label="[^"]*" title="[^"]*" '
                      r'style="left:([\d.]+)%;width:([\d.]+)%;background:(#[0-9a-f]{6})"', html)
    # positions are fractions of the whole duration (10 s)
    assert bars == [("0.400", "4.000", "27.000", render.PALETTE[0]), ("3.400", "34.000", "17.000", render.PALETTE[1])]
    assert html.count("<span>") == 5, "five axis ticks"


def test_timeline_is_absent_without_diarization(dialogue):
    plain = dataclasses.replace(dialogue, speakers=None, diarization=None)
    assert render.render_timeline(plain) == ""
    assert "wx-timeline" not in render.render_view(plain)


def test_timeline_spans_turns_past_the_decoded_duration(dialogue):
    late = dataclasses.replace(dialogue, duration=0.0)
    html = render.render_timeline(late)
    assert 'data-start="3.400" ' in html and "left:66.667%" in html  # 3.4 of a 5.1 s span


# ---- colours ----------------------------------------------------------------------------------------------
def test_colours_follow_speaker_order_and_survive_renaming(dialogue):
    colours = render.speaker_colors(dialogue)
    assert colours == {"SPEAKER_00": render.PALETTE[0], "SPEAKER_01": render.PALETTE[1]}
    renamed = dialogue.with_speaker_names({"SPEAKER_00": "Alice"})
    assert render.speaker_colors(renamed) == {"Alice": render.PALETTE[0], "SPEAKER_01": render.PALETTE[1]}
    page = render.render_view(renamed)
    assert f'background:{render.PALETTE[0]}" aria-hidden="true"></span>Alice</span>' in page
    assert ">SPEAKER_00<" not in page


def test_colours_wrap_around_the_palette_and_cover_unlisted_speakers():
    names = tuple(f"S{index}" for index in range(len(render.PALETTE) + 2))
    result = Result(segments=(_segment(0, 1, "x", "extra"),), language="en", speakers=names, diarization=())
    colours = render.speaker_colors(result)
    assert colours["S0"] == colours[f"S{len(render.PALETTE)}"] == render.PALETTE[0]
    assert colours["extra"] == render.PALETTE[(len(names)) % len(render.PALETTE)]


def test_summary_and_warnings(dialogue):
    page = render.render_view(dataclasses.replace(dialogue, warnings=("alignment skipped",)),
                              audio_url="gradio_api/file=/tmp/x.wav")
    assert 'src="gradio_api/file=/tmp/x.wav"></audio>' in page
    assert "Speakers: <b>2</b>" in page and "Took <b>1.2 s</b>" in page and "Duration: <b>0:10.0</b>" in page
    assert '<div class="wx-warnings" role="status"><b>Notes</b><ul><li>alignment skipped</li></ul></div>' in page
    assert "wx-warnings" not in render.render_view(dialogue)
    noted = dataclasses.replace(dialogue, warnings=("no speech found; try lowering vad_onset (now 0.5)",))
    assert "try lowering “Speech start sensitivity” (now 0.5)" in render.render_view(noted, labels=controls.LABELS)


# ---- controls: derived from TranscribeOptions -------------------------------------------------------------
@pytest.fixture
def specs() -> list[controls.ControlSpec]:
    return controls.control_specs(["tiny.en", "small"], DEFAULT_MODEL, LANGUAGES)


def test_every_visible_option_has_one_control_in_field_order(specs):
    visible = [f.name for f in option_fields() if f.name not in controls.HIDDEN_OPTIONS]
    assert [spec.name for spec in specs] == visible == list(controls.ui_option_names())
    assert {"model", "language", "task", "align_output", "diarization", "num_speakers", "min_speakers",
            "max_speakers", "output_formats", "beam_size", "vad_onset", "chunk_size"} <= set(visible)


def test_widget_defaults_are_the_options_defaults(specs):
    """What the page sends untouched is exactly `TranscribeOptions()` (with the server's default model)."""
    untouched = controls.to_options({spec.name: spec.value for spec in specs})
    assert untouched == TranscribeOptions(model=DEFAULT_MODEL)
    for spec in specs:
        if spec.name != "model":
            default = next(f.default for f in option_fields() if f.name == spec.name)
            assert controls.from_widget_value(spec.name, spec.value) == (
                list(default) if isinstance(default, tuple) else default), spec.name


def test_api_defaults_are_the_options_defaults(specs):
    api = {spec.name: spec.api_default for spec in specs}
    assert controls.to_options(api) == TranscribeOptions(model=DEFAULT_MODEL)
    assert TranscribeOptions.from_mapping({**api, "model": None}) == TranscribeOptions()


def test_widgets_follow_field_types_and_limits(specs):
    by_name = {spec.name: spec for spec in specs}
    fields = {f.name: f for f in option_fields()}
    for spec in specs:
        kind, meta = field_type(spec.name), fields[spec.name].metadata
        if kind is bool:
            assert spec.kind == "checkbox"
        if spec.kind == "slider":
            step = 1 if kind is int else 0.001
            assert spec.minimum == meta["minimum"] + (step if meta.get("exclusive_minimum") else 0)
            assert spec.maximum == meta["maximum"] - (step if meta.get("exclusive_maximum") else 0)
        assert spec.info == controls.UI_HELP.get(spec.name, meta.get("help", "")), spec.name
    assert by_name["num_speakers"].kind == "number" and by_name["num_speakers"].value == ""
    assert by_name["output_formats"].choices == fields["output_formats"].metadata["choices"]
    assert by_name["task"].choices == fields["task"].metadata["choices"]
    assert by_name["model"].choices == (("tiny.en (default)", "tiny.en"), ("small", "small"))
    assert by_name["language"].choices[0] == ("Auto-detect", controls.AUTO_LANGUAGE)
    assert ("German (de)", "de") in by_name["language"].choices
    assert controls.language_choices({"en": "english"}) == [("English (en)", controls.AUTO_LANGUAGE)]


@pytest.mark.parametrize(("name", "widget", "option"), [
    ("language", "auto", None), ("language", "", None), ("language", "de", "de"),
    ("num_speakers", "", None), ("num_speakers", " 2 ", 2.0), ("patience", "0.5", 0.5),
    ("initial_prompt", "  ", None), ("output_formats", None, []), ("chunk_size", 5, 5),
])
def test_widget_values_map_back_to_options(name, widget, option):
    assert controls.from_widget_value(name, widget) == option


def test_a_bad_number_names_its_field():
    from core import InvalidInput

    with pytest.raises(InvalidInput, match="beam_size must be a number") as caught:
        controls.to_options({"beam_size": "five"})
    assert caught.value.field == "beam_size"


def test_page_labels_and_help_speak_in_user_words(specs):
    """No environment variables, model or library names, or abbreviations a newcomer cannot read."""
    jargon = re.compile(r"\b[A-Z][A-Z0-9]*_[A-Z0-9_]+\b|wav2vec2|whisper|pyannote|\bVAD\b|log-?prob|gzip|ASR", re.I)
    for spec in specs:
        assert spec.info, spec.name
        assert not jargon.search(spec.info) and not jargon.search(spec.label), (spec.name, spec.label, spec.info)
    assert set(controls.labels()) == {spec.name for spec in specs}


def test_speaker_models_are_a_list_of_the_installed_ones():
    specs = {spec.name: spec for spec in controls.control_specs(["tiny.en"], DEFAULT_MODEL, LANGUAGES,
                                                                 ["open-campp", "other"])}
    spec = specs["diarization_model"]
    assert spec.kind == "dropdown" and spec.value == "open-campp"
    assert [value for _, value in spec.choices] == ["open-campp", "other"]


def test_an_empty_optional_field_names_its_default_not_a_range():
    specs = {spec.name: spec for spec in controls.control_specs(["tiny.en"], DEFAULT_MODEL, LANGUAGES,
                                                                 batch_size=16)}
    assert specs["beam_size"].placeholder == "default: 5" and specs["beam_size"].accepted == "1 to 20"
    assert specs["batch_size"].placeholder == "default: 16"  # the server's, not the BATCH_SIZE variable's name
    assert specs["max_line_width"].placeholder == "default: no limit"
    assert specs["suppress_tokens"].placeholder == "default: -1"
    assert specs["initial_prompt"].placeholder == "optional"
    optional = [spec for spec in specs.values() if spec.kind == "number"]
    assert optional and all(spec.none_means for spec in optional), [s.name for s in optional if not s.none_means]
