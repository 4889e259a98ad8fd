"""Diarization clustered in windows (core/speakers/windowed_clustering.py): the same speakers as one pass, the
same person when a voice comes back much later, and clustering memory that does not grow with the length.

The first tests drive pyannote's real `AgglomerativeClustering` (the open profile's, with its hyper-parameters)
on embeddings drawn around three voices; the last runs the real open-profile pipeline on a synthetic meeting
whose first speaker leaves and comes back."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from core.speakers.windowed_clustering import WindowedClustering, link_distance_of

FRAMES = 20  # frames per chunk in the synthetic segmentation


def _clustering():
    from pyannote.audio.pipelines.clustering import AgglomerativeClustering

    clustering = AgglomerativeClustering(metric="cosine")  # synthetic voices: any setting
    clustering.instantiate({"method": "average", "min_cluster_size": 12, "threshold": 0.22})
    return clustering


def _conversation(phases: list[tuple[int, int]], chunks_per_phase: int, seed: int = 0):
    """Embeddings (chunks, 3 local speakers, 64) and binary segmentations: in each phase two voices share every
    chunk (half each), the third local speaker is silent (NaN embedding, as pyannote gives)."""
    from pyannote.core import SlidingWindow, SlidingWindowFeature

    rng = np.random.default_rng(seed)
    voices = rng.normal(size=(3, 64))
    voices /= np.linalg.norm(voices, axis=1, keepdims=True)
    chunks = len(phases) * chunks_per_phase
    embeddings = np.full((chunks, 3, 64), np.nan)
    segmentation = np.zeros((chunks, FRAMES, 3), dtype=np.float32)
    truth = np.full((chunks, 3), -1)
    for chunk in range(chunks):
        first, second = phases[chunk // chunks_per_phase]
        for local, voice in ((0, first), (1, second)):
            noise = rng.normal(size=64)
            embeddings[chunk, local] = voices[voice] + 0.3 * noise / np.linalg.norm(noise)
            truth[chunk, local] = voice
        segmentation[chunk, : FRAMES // 2, 0] = 1
        segmentation[chunk, FRAMES // 2:, 1] = 1
    window = SlidingWindow(start=0.0, duration=5.0, step=0.5)
    return embeddings, SlidingWindowFeature(segmentation, window), truth


def _same_partition(hard: np.ndarray, truth: np.ndarray) -> bool:
    """Each true voice maps to exactly one cluster and no two voices share one."""
    active = truth >= 0
    pairs = set(zip(truth[active].tolist(), hard[active].tolist(), strict=True))
    return len(pairs) == len({voice for voice, _ in pairs}) == len({cluster for _, cluster in pairs})


def test_link_distance_is_the_clusterings_own_threshold():
    assert link_distance_of(_clustering()) == pytest.approx(0.22)


def test_a_voice_that_comes_back_keeps_its_cluster():
    # Voice 0 speaks in the first and last phases only, windows of one phase each: linking must recognise it.
    embeddings, segmentation, truth = _conversation([(0, 1), (1, 2), (2, 0)], chunks_per_phase=60)
    hard, soft, centroids = WindowedClustering(_clustering(), window_chunks=60)(embeddings, segmentation)
    assert centroids.shape == (3, 64) and soft.shape == (180, 3, 3)
    assert _same_partition(hard, truth)
    whole, _, _ = _clustering()(embeddings.copy(), segmentation)
    assert _same_partition(whole, truth)  # and one pass over everything agrees


def test_a_short_recording_is_clustered_in_one_pass_as_before():
    embeddings, segmentation, _ = _conversation([(0, 1)], chunks_per_phase=50)
    windowed, _, windowed_centroids = WindowedClustering(_clustering(), window_chunks=60)(embeddings.copy(),
                                                                                          segmentation)
    once, _, once_centroids = _clustering()(embeddings.copy(), segmentation)
    assert np.array_equal(windowed, once) and np.allclose(windowed_centroids, once_centroids)


def test_a_speaker_count_is_honoured_across_windows():
    embeddings, segmentation, truth = _conversation([(0, 1), (1, 2), (2, 0)], chunks_per_phase=60)
    hard, _, centroids = WindowedClustering(_clustering(), window_chunks=60)(embeddings, segmentation,
                                                                             max_clusters=2)
    assert len(centroids) == 2 and set(np.unique(hard[truth >= 0])) == {0, 1}


def test_a_voice_first_met_drifted_joins_its_speaker_at_the_end():
    # Voice 0 sounds different in the second window (45° away: cosine distance 0.29, over the 0.22 link) and so
    # starts a speaker of its own; the third window (20°) links to the first, and the file's final centroids
    # (10° and 45°: distance 0.18) show one person. The closing merge joins them; voice 1 stays apart.
    rng = np.random.default_rng(3)
    basis, _ = np.linalg.qr(rng.normal(size=(64, 3)))
    clean, other, drift = basis.T
    embeddings, segmentation, truth = _conversation([(0, 1)] * 3, chunks_per_phase=60)
    for window, degrees in enumerate((0.0, 45.0, 20.0)):
        angle = np.radians(degrees)
        voice = np.cos(angle) * clean + np.sin(angle) * drift
        for chunk in range(window * 60, (window + 1) * 60):
            for local, centre in ((0, voice), (1, other)):
                noise = rng.normal(size=64)
                embeddings[chunk, local] = centre + 0.3 * noise / np.linalg.norm(noise)
    hard, _, centroids = WindowedClustering(_clustering(), window_chunks=60)(embeddings, segmentation)
    assert len(centroids) == 2 and _same_partition(hard, truth)


def _clustering_peak_mb(chunks_per_phase: int, window_chunks: int | None) -> float:
    embeddings, segmentation, _ = _conversation([(0, 1), (1, 2), (2, 0)], chunks_per_phase=chunks_per_phase)
    clustering = _clustering() if window_chunks is None else WindowedClustering(_clustering(),
                                                                                 window_chunks=window_chunks)
    tracemalloc.start()
    try:
        clustering(embeddings, segmentation)
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def test_windowed_clustering_memory_does_not_grow_with_the_square_of_the_length():
    """Doubling the length doubles one pass's embeddings and quadruples its distance matrix; in windows the
    peak stays about the same (only the per-chunk outputs grow, linearly)."""
    short, long = _clustering_peak_mb(400, 200), _clustering_peak_mb(800, 200)
    once_short, once_long = _clustering_peak_mb(400, None), _clustering_peak_mb(800, None)
    assert once_long > 3.0 * once_short  # the quadratic growth windows remove
    assert long < 1.5 * short, (short, long)
    assert long < once_long / 4


@pytest.mark.slow
def test_open_pipeline_keeps_a_returning_speaker_across_windows(engine, data_dir):
    """A 3-minute meeting in three parts (kal+slt, slt+ked, kal+ked), clustered in 30 s windows (six of them; kal
    is absent from the middle two): the same three speakers as one pass, kal's label the same when he comes back,
    DER within 2 points of one pass."""
    from bench.meeting import RETURNING, labels_by_part, make_meeting
    from core.media.decode import decode_audio
    from core.speakers.diarization import diarize
    from tests.speech import diarization_error_rate

    meeting = make_meeting(data_dir / "meetings", 3, phases=RETURNING)
    audio = decode_audio(meeting.path).samples
    pipeline = engine.registry.diarization()
    windowed = [(t.start, t.end, t.speaker) for t in diarize(pipeline, audio, window_s=30.0).turns]
    once = [(t.start, t.end, t.speaker) for t in diarize(pipeline, audio).turns]
    windowed_der = diarization_error_rate(meeting.turns, windowed)
    once_der = diarization_error_rate(meeting.turns, once)
    assert windowed_der <= once_der + 0.02, (windowed_der, once_der)
    assert len({label for _, _, label in windowed}) == 3
    labels = labels_by_part(meeting, windowed, parts=3)
    assert labels["kal", 0] == labels["kal", 2], labels
    assert labels["slt", 0] == labels["slt", 1] and labels["ked", 1] == labels["ked", 2], labels
    assert len({labels["kal", 0], labels["slt", 0], labels["ked", 1]}) == 3, labels


def test_long_recording_settings():
    from core import InvalidInput, Settings

    defaults = Settings()
    assert defaults.max_audio_minutes == 600 and defaults.diarization_window_minutes == 15
    assert not defaults.runpod_stream
    parsed = Settings.from_env({"DIARIZATION_WINDOW_MINUTES": "7.5", "RUNPOD_STREAM": "1"})
    assert parsed.diarization_window_minutes == 7.5 and parsed.runpod_stream
    with pytest.raises(InvalidInput, match="DIARIZATION_WINDOW_MINUTES"):
        Settings.from_env({"DIARIZATION_WINDOW_MINUTES": "0"})
