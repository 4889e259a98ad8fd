"""Speaker clustering in windows, linked across them by voice, so diarization memory stays flat with length.

pyannote's `SpeakerDiarization` segments and embeds the whole file in linear time and memory, then clusters every
(chunk, local speaker) embedding at once. Agglomerative clustering builds the full pairwise distance matrix: one
hour at 0.5 s steps is ~21,600 embeddings, a 1.9 GB matrix; four hours would be 30 GB. Everything after the
clustering (reconstruction, the annotation) is linear again.

`WindowedClustering` stands in for the pipeline's own clustering: it runs that same clustering, with the same
hyper-parameters, on consecutive windows of chunks (`window_s` of audio each), then links each window's clusters
to the file's speakers by the cosine similarity of their centroids, one to one (Hungarian assignment), under the
distance at which the clustering itself would merge two clusters. A window's speaker that matches no one becomes
a new speaker; speakers' centroids are running means weighted by their embeddings, so a voice that comes back
hours later is recognised. The pipeline then gets global cluster ids and centroids, exactly the shape its own
clustering returns, so its `speaker_embeddings` stay meaningful.

A recording no longer than one window is clustered exactly as before (the wrapped clustering is called once on
everything).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

# Linking threshold (cosine distance) for clusterings without a comparable one (e.g. VBx, whose threshold is on
# PLDA scores): centroids of the same voice are far closer than single embeddings.
DEFAULT_LINK_DISTANCE = 0.5


class WindowedClustering:
    """Calls `inner` (a pyannote clustering) window by window and links the windows' speakers."""

    def __init__(self, inner: Any, *, window_chunks: int, link_distance: float | None = None) -> None:
        if window_chunks < 2:
            raise ValueError("window_chunks must be at least 2")
        self.inner = inner
        self.window_chunks = window_chunks
        self.link_distance = link_distance if link_distance is not None else link_distance_of(inner)

    def __getattr__(self, name: str) -> Any:  # e.g. `expects_num_clusters`
        return getattr(self.inner, name)

    def __call__(self, embeddings: np.ndarray, segmentations: Any = None, num_clusters: int | None = None,
                 min_clusters: int | None = None, max_clusters: int | None = None,
                 **kwargs: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        num_chunks, local_speakers, _ = embeddings.shape
        if num_chunks <= self.window_chunks:
            return self.inner(embeddings, segmentations, num_clusters=num_clusters, min_clusters=min_clusters,
                              max_clusters=max_clusters, **kwargs)
        from pyannote.core import SlidingWindowFeature

        most = num_clusters or max_clusters
        speakers = _Speakers(self.link_distance)
        hard = np.full((num_chunks, local_speakers), -2, dtype=np.int16)
        for start in range(0, num_chunks, self.window_chunks):
            stop = min(start + self.window_chunks, num_chunks)
            window = SlidingWindowFeature(segmentations.data[start:stop], segmentations.sliding_window)
            # A window may hold only some of the speakers: bound it from above only.
            local, _, centroids = self.inner(embeddings[start:stop], window, num_clusters=None, min_clusters=None,
                                             max_clusters=most, **kwargs)
            active = np.sum(window.data, axis=1) > 0  # (chunks, local speakers) that speak at all
            weights = np.array([np.sum((local == k) & active) for k in range(len(centroids))], dtype=np.float64)
            mapping = speakers.link(centroids, weights)
            hard[start:stop] = np.where(local >= 0, mapping[np.clip(local, 0, None)], -2)
        if not speakers.sums:  # no window had a usable voice: nothing to link, let one pass decide
            return self.inner(embeddings, segmentations, num_clusters=num_clusters, min_clusters=min_clusters,
                              max_clusters=max_clusters, **kwargs)
        hard = speakers.merge_down_to(most or 1, hard, within=self.link_distance)
        if most is not None:
            hard = speakers.merge_down_to(most, hard)
        hard = speakers.renumbered(hard)
        centroids = speakers.centroids()
        soft = 2.0 - _cosine_distance(embeddings.reshape(-1, embeddings.shape[-1]), centroids).reshape(
            num_chunks, local_speakers, -1)
        logger.info("diarization clustered in %d windows of %d chunks: %d speakers",
                    -(-num_chunks // self.window_chunks), self.window_chunks, len(centroids))
        return hard.astype(np.int8), soft, centroids


class _Speakers:
    """The file's speakers so far: centroid sums and weights (a running weighted mean per speaker)."""

    def __init__(self, link_distance: float) -> None:
        self.link_distance = link_distance
        self.sums: list[np.ndarray] = []
        self.weights: list[float] = []

    def link(self, centroids: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Global ids for one window's clusters (-2 for a cluster without a usable centroid)."""
        from scipy.optimize import linear_sum_assignment

        mapping = np.full(len(centroids), -2, dtype=np.int16)
        usable = [k for k in range(len(centroids)) if weights[k] > 0 and np.all(np.isfinite(centroids[k]))]
        if self.sums and usable:
            distance = _cosine_distance(centroids[usable], self.centroids())
            rows, columns = linear_sum_assignment(distance)
            for row, column in zip(rows, columns, strict=True):
                if distance[row, column] <= self.link_distance:
                    mapping[usable[row]] = column
        for k in usable:
            if mapping[k] < 0:
                mapping[k] = len(self.sums)
                self.sums.append(np.zeros_like(centroids[k], dtype=np.float64))
                self.weights.append(0.0)
            self.sums[mapping[k]] += weights[k] * centroids[k]
            self.weights[mapping[k]] += weights[k]
        return mapping

    def centroids(self) -> np.ndarray:
        return np.vstack([total / weight for total, weight in zip(self.sums, self.weights, strict=True)])

    def merge_down_to(self, most: int, hard: np.ndarray, within: float = np.inf) -> np.ndarray:
        """Merge the two closest speakers until at most `most` remain (a speaker count to honour) or, with
        `within`, no two are closer than that. The second is the linking rule applied once more at the end:
        windows are linked one by one to running means, so a voice first met in a poor window can start a
        speaker of its own that the file's final centroids show to be the same person."""
        while len(self.sums) > max(most, 1):
            distance = _cosine_distance(self.centroids(), self.centroids())
            np.fill_diagonal(distance, np.inf)
            if distance.min() > within:
                break
            keep, drop = sorted(np.unravel_index(np.argmin(distance), distance.shape))
            self.sums[keep] += self.sums[drop]
            self.weights[keep] += self.weights[drop]
            del self.sums[drop], self.weights[drop]
            hard = np.where(hard == drop, keep, np.where(hard > drop, hard - 1, hard))
        return hard

    def renumbered(self, hard: np.ndarray) -> np.ndarray:
        """Speakers numbered by first appearance (as one clustering pass would roughly number them)."""
        order = list(dict.fromkeys(int(k) for k in hard.reshape(-1) if k >= 0))
        order += [k for k in range(len(self.sums)) if k not in order]
        self.sums = [self.sums[k] for k in order]
        self.weights = [self.weights[k] for k in order]
        lookup = np.full(len(order), -2, dtype=np.int16)
        lookup[order] = np.arange(len(order))
        return np.where(hard >= 0, lookup[np.clip(hard, 0, None)], hard)


def link_distance_of(clustering: Any) -> float:
    """The cosine distance under which `clustering` itself merges two clusters, when it has one."""
    threshold = getattr(clustering, "threshold", None)
    method = getattr(clustering, "method", None)
    if type(clustering).__name__ != "AgglomerativeClustering" or not isinstance(threshold, float):
        return DEFAULT_LINK_DISTANCE
    if method in ("centroid", "median", "ward"):  # euclidean on unit vectors: d² = 2 · cosine distance
        return threshold**2 / 2
    return threshold


def _cosine_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    from scipy.spatial.distance import cdist

    return cdist(a, b, metric="cosine")


@contextlib.contextmanager
def windowed(pipeline: Any, window_s: float) -> Iterator[None]:
    """For one run of `pipeline` (jobs run one at a time): cluster in windows of `window_s` seconds of audio."""
    segmentation = getattr(pipeline, "_segmentation", None)
    inner = getattr(pipeline, "clustering", None)
    if segmentation is None or inner is None or window_s <= 0:
        yield
        return
    window_chunks = max(2, round(window_s / segmentation.step))
    pipeline.__dict__["clustering"] = WindowedClustering(inner, window_chunks=window_chunks)  # shadows the sub-pipeline
    try:
        yield
    finally:
        pipeline.__dict__.pop("clustering", None)
