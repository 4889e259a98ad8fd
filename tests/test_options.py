"""The options contract: aliases, validation, clear errors and the generated docs. No models."""

import pytest

from core import InvalidInput, TranscribeOptions
from core.options import option_fields
from core.settings import Settings


def test_defaults_match_the_contract():
    options = TranscribeOptions()
    assert options.task == "transcribe" and options.align_output is True and options.diarization is False
    assert options.output_formats == ("json",)
    assert (options.vad_onset, options.vad_offset, options.chunk_size) == (0.5, 0.363, 30)
    assert options.language is None and options.model is None


def test_aliases_of_both_workers_map_onto_one_field():
    options = TranscribeOptions.from_mapping(
        {"word_timestamps": False, "diarize": True, "translate": True, "transcription": "srt"}
    )
    assert options.align_output is False and options.diarization is True
    assert options.transcription == "srt"
    # the faster-whisper worker's `translate` keeps the transcript and adds a translation; `task` replaces it
    assert options.translate is True and options.task == "transcribe"
    assert TranscribeOptions.from_mapping({"translate": False}).translate is False


def test_faster_whisper_spellings_of_formats():
    """Its README example sends "plain text" (with a space); the schema spells it plain_text."""
    options = TranscribeOptions.from_mapping({"transcription": "plain text", "translation": "Formatted-Text"})
    assert options.transcription == "plain_text" and options.translation == "formatted_text"


@pytest.mark.parametrize(("raw", "canonical"), [("-1", "-1"), (-1, "-1"), ("-1, 50363,50363", "-1,50363"),
                                                ([-1, 220], "-1,220"), ("", "")])
def test_suppress_tokens_forms(raw, canonical):
    from core.options import token_ids

    options = TranscribeOptions.from_mapping({"suppress_tokens": raw})
    assert options.suppress_tokens == canonical
    assert token_ids(options.suppress_tokens) == [int(x) for x in canonical.split(",") if x]


def test_other_fields_are_skipped_and_listed_when_a_key_is_unknown():
    options = TranscribeOptions.from_mapping({"audio": "x", "language": "en"}, other_fields=("audio",))
    assert options.language == "en"
    with pytest.raises(InvalidInput) as caught:
        TranscribeOptions.from_mapping({"audio": "x", "colour": 1}, other_fields=("audio",))
    assert caught.value.field == "colour" and "audio," in caught.value.message


@pytest.mark.parametrize(
    ("mapping", "field", "fragment"),
    [
        ({"nonsense": 1}, "nonsense", "unknown field"),
        ({"beam_size": "5"}, "beam_size", "must be an integer"),
        ({"diarization": "yes"}, "diarization", "boolean"),
        ({"temperature": 3}, "temperature", "out of range"),
        ({"vad_onset": 0}, "vad_onset", "out of range"),
        ({"min_speakers": 3, "max_speakers": 2}, "min_speakers", "must not exceed"),
        ({"num_speakers": 5, "max_speakers": 2}, "num_speakers", "above max_speakers"),
        ({"num_speakers": 0}, "num_speakers", "out of range"),
        ({"output_formats": ["json", "docx"]}, "output_formats", "unknown format 'docx'"),
        ({"output_formats": 3}, "output_formats", "list of strings"),
        ({"task": "summarize"}, "task", "accepted: transcribe, translate"),
        ({"diarize": True, "diarization": True}, "diarization", "give only one"),
        ({"transcription": "html"}, "transcription", "plain_text"),
        ({"translation": "pdf"}, "translation", "formatted_text"),
        ({"suppress_tokens": "1,two"}, "suppress_tokens", "not a token id"),
        ({"suppress_tokens": "-5"}, "suppress_tokens", "not a token id"),
        ({"suppress_tokens": 1.5}, "suppress_tokens", "token ids"),
        ({"language_detection_min_prob": 2}, "language_detection_min_prob", "out of range"),
        ({"language_detection_max_tries": 0}, "language_detection_max_tries", "out of range"),
        ({"debug": "yes"}, "debug", "boolean"),
    ],
)
def test_bad_values_name_the_field_and_what_is_accepted(mapping, field, fragment):
    with pytest.raises(InvalidInput) as caught:
        TranscribeOptions.from_mapping(mapping)
    assert caught.value.field == field
    assert fragment in caught.value.message


def test_output_formats_accept_a_comma_string_and_drop_repeats():
    options = TranscribeOptions.from_mapping({"output_formats": "srt, vtt,srt"})
    assert options.output_formats == ("srt", "vtt")
    assert TranscribeOptions.from_mapping({"output_formats": "SRT, Vtt"}).output_formats == ("srt", "vtt")  # as a list


def test_token_never_appears_in_repr_or_mapping():
    options = TranscribeOptions.from_mapping({"huggingface_access_token": "hf_secret_value"})
    assert "hf_secret_value" not in repr(options)
    assert "huggingface_access_token" not in options.to_mapping()


def test_settings_from_env_parse_and_refuse_bad_values(tmp_path):
    settings = Settings.from_env({"MODELS_DIR": str(tmp_path), "BATCH_SIZE": "8", "PRELOAD": "0",
                                  "UI_AUTH": "ada:pw1,bob:pw2", "HF_TOKEN": "hf_x"})
    assert settings.models_dir == tmp_path and settings.batch_size == 8 and settings.preload is False
    assert settings.ui_auth == (("ada", "pw1"), ("bob", "pw2"))
    assert "hf_x" not in repr(settings) and "pw1" not in repr(settings)
    assert Settings.from_env({"DOWNLOAD_TIMEOUT_S": "45"}).download_timeout_s == 45.0
    assert Settings().download_timeout_s <= 300, "a serverless job must not wait 10 minutes for one download"
    for env, field in [({"DEVICE": "tpu"}, "DEVICE"), ({"BATCH_SIZE": "-1"}, "BATCH_SIZE"),
                       ({"DOWNLOAD_TIMEOUT_S": "0"}, "DOWNLOAD_TIMEOUT_S"),
                       ({"DOWNLOAD_TIMEOUT_S": "x"}, "DOWNLOAD_TIMEOUT_S"),
                       ({"UI_AUTH": "nopassword"}, "UI_AUTH"), ({"PRELOAD": "maybe"}, "PRELOAD")]:
        with pytest.raises(InvalidInput) as caught:
            Settings.from_env(env)
        assert caught.value.field == field


def test_docs_options_table_is_generated_from_the_fields():
    """docs/configuration.md's table is `python -m core.cli.options_table` output: a new option shows up there or
    this fails."""
    from core.cli.options_table import DOC, END, START, markdown_table

    text = DOC.read_text(encoding="utf-8")
    block = text.split(START, 1)[1].split(END, 1)[0].strip()
    assert block == markdown_table(), "run: python -m core.cli.options_table --write"
    for field in option_fields():
        assert f"| `{field.name}`" in block


def test_max_audio_minutes_setting():
    assert Settings().max_audio_minutes > 60  # the documented default leaves room for an hour-long meeting
    assert Settings.from_env({"MAX_AUDIO_MINUTES": "90.5"}).max_audio_seconds == 90.5 * 60
    for raw in ("0", "-5", "abc", "nan", "inf"):
        with pytest.raises(InvalidInput) as caught:
            Settings.from_env({"MAX_AUDIO_MINUTES": raw})
        assert caught.value.field == "MAX_AUDIO_MINUTES"
