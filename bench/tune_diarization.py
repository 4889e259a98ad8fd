"""Choose the open profile's diarization clustering on the quality set's DEV clips only, then report it.

    python -m bench.tune_diarization --models-dir models            # sweep on dev, print the best settings
    python -m bench.tune_diarization --models-dir models --compare  # current vs builder's settings, dev and held out

The sweep uses pyannote's own tuning cache (`pipeline.training = True`: each clip's segmentation and
embeddings are computed once and reused by every trial), so only clustering and reconstruction run per
trial. A trial is ranked by the dev clips' pooled DER of the diarization's turns (collar ±0.25 s, overlap
included), then by how many clips got the speaker count right, then by how few clips merged two voices
(fewer speakers found than the reference has speakers with at least MERGE_MIN_SPEECH_S of speech).
Held-out clips are never given to the sweep: `--compare` is the only thing that reads them. A setting is
adopted only if it also keeps pyannote's sample.wav right (2 speakers, DER < 0.15; tests/test_open_diarization.py).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import pickle
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")

from bench import quality_metrics as qm
from bench.quality_runs import Clip, load_set

MERGE_MIN_SPEECH_S = 2.0  # a reference speaker with this much speech should be found
GRID = {
    "method": ("average", "centroid", "weighted"),
    "threshold": tuple(round(0.50 + 0.05 * step, 2) for step in range(13)),  # 0.50 … 1.10 (CAM++)
    "min_cluster_size": (1, 3, 6, 12),
    "min_duration_off": (0.0, 0.5817029604921046),
}


@dataclass(frozen=True)
class Trial:
    params: dict[str, Any]
    der: float
    der_no_overlap: float
    count_right: int
    merged: int
    over: int
    clips: int

    def key(self) -> tuple[float, int, int]:
        return (round(self.der, 4), -self.count_right, self.merged)

    def row(self) -> str:
        return (f"| {self.params['method']} | {self.params['threshold']:.2f} | {self.params['min_cluster_size']} | "
                f"{self.params['min_duration_off']:.2f} | {100 * self.der:.1f} | {100 * self.der_no_overlap:.1f} | "
                f"{self.count_right}/{self.clips} | {self.merged} | {self.over} |")


HEADER = ("| method | threshold | min cluster size | min duration off (s) | DER % | DER no overlap % | "
          "speaker count right | clips with merged voices | clips with too many |\n" + "|---" * 9 + "|")


def load_pipeline(models_dir: Path) -> Any:
    """The open profile's diarization pipeline as built (its directory under MODELS_DIR)."""
    from pyannote.audio import Pipeline

    manifest = json.loads((models_dir / "manifest.json").read_text(encoding="utf-8"))
    name = manifest["defaults"]["diarization"]
    return Pipeline.from_pretrained(models_dir / manifest["diarization"][name]["path"])


def speakers_with_speech(reference: Any, minimum_s: float) -> int:
    return sum(1 for label in reference.labels() if reference.label_duration(label) >= minimum_s)


def evaluate(pipeline: Any, clips: list[Clip], files: dict[str, dict[str, Any]], params: dict[str, Any]) -> Trial:
    """Instantiate `params` and diarize every clip (from the cache after the first trial); score it."""
    pipeline.instantiate({"segmentation": {"min_duration_off": params["min_duration_off"]},
                          "clustering": {k: params[k] for k in ("method", "threshold", "min_cluster_size")}})
    with_overlap, without = qm.scorer(0.25, skip_overlap=False), qm.scorer(0.25, skip_overlap=True)
    right = merged = over = 0
    for clip in clips:
        reference = clip.reference()
        hypothesis = pipeline(files[clip.id]).speaker_diarization
        hypothesis.uri = clip.id
        for metric in (with_overlap, without):
            qm.score(metric, reference, hypothesis, clip.duration_s())
        found = len(hypothesis.labels())
        right += found == len(reference.labels())
        merged += found < speakers_with_speech(reference, MERGE_MIN_SPEECH_S)
        over += found > len(reference.labels())
    return Trial(params, qm.pooled(with_overlap)["der"], qm.pooled(without)["der"], right, merged, over, len(clips))


def grid() -> Iterator[dict[str, Any]]:
    for values in itertools.product(*GRID.values()):
        yield dict(zip(GRID, values, strict=True))


def cached_files(clips: list[Clip], cache: Path | None) -> dict[str, dict[str, Any]]:
    """pyannote protocol files; with `pipeline.training` on, pyannote caches each one's segmentation and
    embeddings inside it. Kept in `cache` (a pickle) between runs, so a new sweep starts from clustering."""
    files = pickle.loads(cache.read_bytes()) if cache and cache.is_file() else {}
    return {clip.id: files.get(clip.id) or decoded(clip) for clip in clips}


def decoded(clip: Clip) -> dict[str, Any]:
    """The clip as the engine hands it to diarization: decoded by our own decoder (ffmpeg), 16 kHz mono samples
    (pyannote's own file reading cuts MP3 chunks short)."""
    import torch

    from core.media.decode import SAMPLE_RATE, decode_audio

    samples = decode_audio(clip.audio).samples
    return {"uri": clip.id, "waveform": torch.from_numpy(samples.copy())[None], "sample_rate": SAMPLE_RATE}


def keep(files: dict[str, dict[str, Any]], cache: Path | None) -> None:
    if cache:
        cache.write_bytes(pickle.dumps(files))


def current_params() -> dict[str, Any]:
    from builder.open_diarization import CLUSTERING_PARAMS, SEGMENTATION_PARAMS

    return {**CLUSTERING_PARAMS, "min_duration_off": SEGMENTATION_PARAMS["min_duration_off"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.tune_diarization", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models-dir", type=Path, default=Path(os.environ.get("MODELS_DIR", "models")))
    parser.add_argument("--compare", action="store_true",
                        help="score the models dir's settings and the builder's on dev and held-out clips")
    parser.add_argument("--top", type=int, default=15, help="sweep: how many of the best trials to print")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "tune-diarization",
                        help="folder keeping each clip's segmentation and embeddings between runs")
    args = parser.parse_args(argv)
    pipeline = load_pipeline(args.models_dir.resolve())
    pipeline.training = True  # pyannote's tuning cache: segmentation and embeddings once per clip
    args.cache.mkdir(parents=True, exist_ok=True)
    if args.compare:
        built = {**pipeline.parameters(instantiated=True)["clustering"],
                 "min_duration_off": pipeline.parameters(instantiated=True)["segmentation"]["min_duration_off"]}
        for split in ("dev", "heldout"):
            clips = [clip for clip in load_set(splits=(split,)) if clip.rttm is not None]
            files = cached_files(clips, args.cache / f"{split}.pkl")
            print(f"\n## {split}: {len(clips)} clips (the models dir's settings, then the builder's)\n\n{HEADER}")
            for params in (built, current_params()):
                print(evaluate(pipeline, clips, files, params).row(), flush=True)
            keep(files, args.cache / f"{split}.pkl")
        return 0
    clips = [clip for clip in load_set(splits=("dev",)) if clip.rttm is not None]
    files = cached_files(clips, args.cache / "dev.pkl")
    trials = []
    for params in grid():
        trials.append(evaluate(pipeline, clips, files, params))
        print(f"trial {len(trials)}: {trials[-1].row()}", file=sys.stderr, flush=True)  # progress
        if len(trials) == 1:
            keep(files, args.cache / "dev.pkl")
    trials.sort(key=Trial.key)
    print(f"\n## Sweep on the {len(clips)} dev clips ({len(trials)} trials), best first\n\n{HEADER}")
    for trial in trials[: args.top]:
        print(trial.row())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
