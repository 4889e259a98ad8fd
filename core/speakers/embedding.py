"""Resemblyzer's pretrained GE2E speaker encoder as a pyannote.audio `Model`.

Resemblyzer ships real speaker-encoder weights on PyPI (`pretrained.pt`, a 3-layer LSTM trained with the GE2E
loss), which makes a token-free, offline diarization pipeline possible. Its own code needs librosa and webrtcvad,
so this module reimplements the front end (librosa's slaney mel spectrogram, power 2, not log) and the network in
torch, and adapts it to the pyannote embedding protocol: `forward(waveforms, weights=None)`.

pyannote passes one 16 kHz chunk per (chunk, local speaker) with a frame mask of that speaker. GE2E was trained
on speech with silences trimmed, so the mask selects the target speaker's mel frames, which are concatenated and
embedded like resemblyzer's `embed_utterance`: 1.6 s partial windows at 50 % overlap, partial embeddings averaged
and L2-normalised.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from pyannote.audio.core.model import Model
from pyannote.audio.core.task import Problem, Resolution, Specifications, Task
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16000
N_FFT = 400  # 25 ms window (resemblyzer hparams.mel_window_length)
HOP_LENGTH = 160  # 10 ms step (hparams.mel_window_step)
N_MELS = 40  # hparams.mel_n_channels
HIDDEN_SIZE = 256
EMBEDDING_SIZE = 256
NUM_LAYERS = 3
PARTIAL_FRAMES = 160  # 1.6 s partial utterances (hparams.partials_n_frames)
TARGET_DBFS = -30.0  # hparams.audio_norm_target_dBFS, applied "increase only" as resemblyzer does


def resemblyzer_weights_file() -> Path:
    """Path of resemblyzer's `pretrained.pt`, found without importing resemblyzer (its modules need librosa)."""
    from importlib.util import find_spec

    spec = find_spec("resemblyzer")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the `resemblyzer` package is not installed (pip install --no-deps resemblyzer)")
    path = Path(next(iter(spec.submodule_search_locations))) / "pretrained.pt"
    if not path.is_file():
        raise FileNotFoundError(f"resemblyzer's pretrained GE2E weights are missing: {path}")
    return path


def load_resemblyzer_state_dict(path: Path | None = None) -> dict[str, torch.Tensor]:
    """The encoder's `lstm.*` / `linear.*` tensors; GE2E's training-only similarity scale/bias are dropped."""
    checkpoint = torch.load(path or resemblyzer_weights_file(), map_location="cpu", weights_only=True)
    state = checkpoint["model_state"]
    return {key: value for key, value in state.items() if key.startswith(("lstm.", "linear."))}


def slaney_mel_filterbank(sample_rate: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS) -> np.ndarray:
    """(n_mels, 1 + n_fft // 2) filters equal to `librosa.filters.mel` defaults (slaney scale and norm), which
    resemblyzer was trained with; torchaudio builds them (librosa is not a dependency)."""
    import torchaudio

    filters = torchaudio.functional.melscale_fbanks(1 + n_fft // 2, 0.0, sample_rate / 2, n_mels, sample_rate,
                                                    norm="slaney", mel_scale="slaney")
    return filters.T.numpy().astype(np.float32)


def _partial_starts(num_frames: int, window: int, step: int) -> list[int]:
    """Window starts covering `num_frames`; the last window is aligned to the end instead of zero-padded."""
    if num_frames <= window:
        return [0]
    starts = list(range(0, num_frames - window + 1, step))
    if starts[-1] + window < num_frames:
        starts.append(num_frames - window)
    return starts


class GE2EEmbedding(Model):
    """Resemblyzer's GE2E encoder (mel 40 → LSTM 3×256 → linear 256 → ReLU → L2 norm) for pyannote pipelines.

    Parameters
    ----------
    sample_rate, num_channels, task
        As for any pyannote `Model` (16 kHz mono only).
    partial_frames, partial_step
        Partial-utterance window and step in 10 ms mel frames (resemblyzer: 160 frames at about 50 % overlap).
    normalize_volume
        Raise quiet input to -30 dBFS over the target speaker's samples before the (linear-power) mel, as
        resemblyzer's `preprocess_wav` does on its training data.
    """

    def __init__(
        self,
        sample_rate: int = SAMPLE_RATE,
        num_channels: int = 1,
        partial_frames: int = PARTIAL_FRAMES,
        partial_step: int = PARTIAL_FRAMES // 2,
        normalize_volume: bool = True,
        task: Task | None = None,
    ):
        if sample_rate != SAMPLE_RATE:
            raise ValueError(f"GE2E works on {SAMPLE_RATE} Hz audio, not {sample_rate} Hz")
        super().__init__(sample_rate=sample_rate, num_channels=num_channels, task=task)
        self.save_hyperparameters("partial_frames", "partial_step", "normalize_volume")
        self.lstm = nn.LSTM(N_MELS, HIDDEN_SIZE, NUM_LAYERS, batch_first=True)
        self.linear = nn.Linear(HIDDEN_SIZE, EMBEDDING_SIZE)
        self.register_buffer("stft_window", torch.hann_window(N_FFT), persistent=False)
        self.register_buffer("mel_filters", torch.from_numpy(slaney_mel_filterbank()), persistent=False)
        if task is None:
            self.specifications = Specifications(
                problem=Problem.REPRESENTATION,
                resolution=Resolution.CHUNK,
                duration=partial_frames * HOP_LENGTH / SAMPLE_RATE,
            )

    @property
    def dimension(self) -> int:
        """Embedding size."""
        return EMBEDDING_SIZE

    def num_frames(self, num_samples: int) -> int:
        """Number of mel frames for `num_samples` samples (centred STFT)."""
        return 1 + num_samples // HOP_LENGTH

    def receptive_field_size(self, num_frames: int = 1) -> int:
        """Samples seen by `num_frames` consecutive mel frames."""
        return N_FFT + (num_frames - 1) * HOP_LENGTH

    def receptive_field_center(self, frame: int = 0) -> int:
        """Sample index at the centre of mel frame `frame`."""
        return frame * HOP_LENGTH

    def mel_spectrogram(self, waveforms: torch.Tensor) -> torch.Tensor:
        """(batch, samples) → (batch, frames, 40) power mel, as `librosa.feature.melspectrogram` (n_fft 400)."""
        if waveforms.shape[-1] < N_FFT // 2 + 1:
            raise ValueError(f"GE2E needs at least {N_FFT // 2 + 1} samples, got {waveforms.shape[-1]}")
        spectrum = torch.stft(waveforms.float(), n_fft=N_FFT, hop_length=HOP_LENGTH, window=self.stft_window,
                              center=True, pad_mode="constant", return_complex=True)
        power = spectrum.real.square() + spectrum.imag.square()
        return torch.matmul(self.mel_filters, power).transpose(1, 2)

    def embed_partials(self, mels: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(windows, frames, 40) zero-padded mel windows with their true lengths → (windows, 256) unit vectors."""
        packed = pack_padded_sequence(mels, lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, (hidden, _) = self.lstm(packed)
        raw = F.relu(self.linear(hidden[-1]))
        return raw / raw.norm(dim=1, keepdim=True).clamp_min(1e-12)

    def forward(self, waveforms: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
        """(batch, 1, samples) 16 kHz → (batch, 256) embeddings; `weights` (batch, [speakers,] frames) masks.

        With weights, only frames whose (nearest-resampled) weight is above 0.5 are embedded; an all-zero mask
        gives a NaN row, which pyannote's clustering skips.
        """
        if weights is not None and weights.dim() == 3:
            batch, speakers, _ = weights.shape
            repeated = waveforms.repeat_interleave(speakers, dim=0)
            embeddings = self.forward(repeated, weights.reshape(batch * speakers, -1))
            return embeddings.reshape(batch, speakers, -1)
        waveforms = waveforms.mean(dim=1) if waveforms.dim() == 3 else waveforms
        num_frames = self.num_frames(waveforms.shape[-1])
        if weights is None:
            keep = torch.ones(waveforms.shape[0], num_frames, dtype=torch.bool, device=waveforms.device)
        else:
            keep = F.interpolate(weights[:, None].float(), size=num_frames, mode="nearest")[:, 0] > 0.5
        if self.hparams.normalize_volume:
            waveforms = self._normalize_volume(waveforms, keep)
        return self._embed_selected(self.mel_spectrogram(waveforms), keep)

    def _normalize_volume(self, waveforms: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """Scale each row up (never down) so the kept samples sit at -30 dBFS, like resemblyzer's preprocessing."""
        sample_keep = keep.repeat_interleave(HOP_LENGTH, dim=1)[:, : waveforms.shape[1]].float()
        power = (waveforms.square() * sample_keep).sum(dim=1) / sample_keep.sum(dim=1).clamp_min(1.0)
        target = 10.0 ** (TARGET_DBFS / 10.0)
        gain = torch.sqrt(target / power.clamp_min(1e-10)).clamp(min=1.0, max=1e3)
        return waveforms * gain[:, None]

    def _embed_selected(self, mels: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """Concatenate each row's kept frames, cut partial windows, embed them in one packed batch, average."""
        window, step = self.hparams.partial_frames, self.hparams.partial_step
        windows: list[torch.Tensor] = []
        owners: list[int] = []
        for row, (mel, mask) in enumerate(zip(mels, keep, strict=True)):
            selected = mel[mask]
            for start in _partial_starts(selected.shape[0], window, step) if selected.shape[0] else []:
                windows.append(selected[start : start + window])
                owners.append(row)
        embeddings = torch.full((mels.shape[0], EMBEDDING_SIZE), float("nan"), device=mels.device)
        if not windows:
            return embeddings
        lengths = torch.tensor([w.shape[0] for w in windows])
        padded = nn.utils.rnn.pad_sequence(windows, batch_first=True)
        partials = self.embed_partials(padded, lengths)
        index = torch.tensor(owners, device=mels.device)
        sums = torch.zeros(mels.shape[0], EMBEDDING_SIZE, device=mels.device).index_add_(0, index, partials)
        present = torch.unique(index)
        embeddings[present] = sums[present] / sums[present].norm(dim=1, keepdim=True).clamp_min(1e-12)
        return embeddings

    @classmethod
    def from_resemblyzer(cls, weights_file: Path | None = None, **hparams: object) -> GE2EEmbedding:
        """A ready model with resemblyzer's pretrained weights (default: the installed `pretrained.pt`)."""
        model = cls(**hparams)
        model.load_state_dict(load_resemblyzer_state_dict(weights_file), strict=True)
        model.eval()
        logger.debug("loaded resemblyzer GE2E weights from %s", weights_file or resemblyzer_weights_file())
        return model
