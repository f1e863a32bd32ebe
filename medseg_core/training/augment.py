"""Random crops and augmentation that keep images and targets aligned.

Crops are cut on the CPU; the geometric and intensity augmentation then runs
as batched tensor operations on the training device (the GPU when there is
one), so data preparation does not starve the network.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from .data import Pair


@dataclass(frozen=True)
class AugmentConfig:
    """Strength of each augmentation (0 or False switches one off).

    ``stain`` perturbs the haematoxylin, eosin and DAB amounts of colour
    (3-channel) images in stain space (Tellez et al. 2018): each stain's
    optical density is scaled by ``1 ± stain`` and shifted by ``± stain / 10``.
    """

    flips: bool = True
    rot90: bool = True
    scale: tuple[float, float] = (0.8, 1.25)
    rotation_deg: float = 15.0
    elastic: float = 0.02
    gamma: tuple[float, float] = (0.7, 1.4)
    contrast: tuple[float, float] = (0.75, 1.3)
    noise: float = 0.03
    blur_probability: float = 0.2
    stain: float = 0.0


def sample_crops(
    pairs: Sequence[Pair], batch_size: int, crop: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``batch_size`` random crops (with replacement) from ``pairs``.

    Images are picked with probability proportional to their area, so large
    images contribute as many crops as their content warrants. Images
    smaller than ``crop`` are mirrored at their far edges, image and
    targets alike, so that every pixel's target matches what it shows.

    Returns
    -------
    images : ndarray
        ``(N, C, crop, crop)`` float32.
    targets : ndarray
        ``(N, T, crop, crop)`` float32.
    """
    areas = np.array([p.image.shape[1] * p.image.shape[2] for p in pairs], dtype=np.float64)
    picks = rng.choice(len(pairs), size=batch_size, p=areas / areas.sum())
    images, targets = [], []
    for index in picks:
        pair = pairs[index]
        image, target = _pad_to(pair.image, crop), _pad_to(pair.target, crop)
        y = rng.integers(0, image.shape[1] - crop + 1)
        x = rng.integers(0, image.shape[2] - crop + 1)
        images.append(image[:, y : y + crop, x : x + crop])
        targets.append(target[:, y : y + crop, x : x + crop])
    return np.stack(images), np.stack(targets)


def _pad_to(array: np.ndarray, size: int) -> np.ndarray:
    pad_h, pad_w = max(0, size - array.shape[1]), max(0, size - array.shape[2])
    if not (pad_h or pad_w):
        return array
    return np.pad(array, ((0, 0), (0, pad_h), (0, pad_w)), mode="symmetric")


def augment_batch(
    images: torch.Tensor,
    targets: torch.Tensor,
    config: AugmentConfig,
    generator: torch.Generator,
    *,
    semantic: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Augment a batch on its device.

    Parameters
    ----------
    images : Tensor
        ``(N, C, H, W)`` normalised images.
    targets : Tensor
        ``(N, T, H, W)``: instance foreground/distance maps or, when
        ``semantic``, one channel of class indices (warped with nearest
        neighbour so classes stay whole numbers).
    config : AugmentConfig
        What to apply.
    generator : torch.Generator
        Source of randomness (on the CPU), for reproducible runs.
    semantic : bool
        Whether targets are class indices.
    """
    n = images.shape[0]
    device = images.device

    def rand(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=generator).to(device)

    if config.flips:
        flip = rand(n) < 0.5
        images = torch.where(flip[:, None, None, None], images.flip(-1), images)
        targets = torch.where(flip[:, None, None, None], targets.flip(-1), targets)
    if config.rot90 and images.shape[-1] == images.shape[-2]:
        k = int(torch.randint(0, 4, (1,), generator=generator))
        images, targets = images.rot90(k, (-2, -1)), targets.rot90(k, (-2, -1))
    grid = _affine_grid(n, images.shape[-2:], config, rand, device)
    if grid is not None:
        images = F.grid_sample(images, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
        mode = "nearest" if semantic else "bilinear"
        targets = F.grid_sample(targets, grid, mode=mode, padding_mode="reflection", align_corners=False)
        if not semantic:
            targets[:, 0] = (targets[:, 0] > 0.5).float()
    if config.stain > 0 and images.shape[1] == 3:
        images = _stain_jitter(images, config.stain, rand)
    images = _intensity(images, config, rand)
    return images.contiguous(), targets.contiguous()


def _affine_grid(n: int, size: torch.Size, config: AugmentConfig, rand, device) -> torch.Tensor | None:
    lo, hi = config.scale
    if lo == hi == 1 and config.rotation_deg == 0 and config.elastic == 0:
        return None
    log_scale = math.log(lo) + rand(n) * (math.log(hi) - math.log(lo))
    scale = torch.exp(-log_scale)  # sampling grid shrinks when the image should grow
    angle = (rand(n) * 2 - 1) * math.radians(config.rotation_deg)
    cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
    theta = torch.stack([torch.stack([cos, -sin, torch.zeros_like(cos)], 1), torch.stack([sin, cos, torch.zeros_like(cos)], 1)], 1)
    grid = F.affine_grid(theta, (n, 1, *size), align_corners=False)
    if config.elastic > 0:
        coarse = (rand(n, 2, 5, 5) * 2 - 1) * config.elastic * 2
        field = F.interpolate(coarse, size=tuple(size), mode="bicubic", align_corners=False)
        grid = grid + field.permute(0, 2, 3, 1)
    return grid


#: Ruifrok & Johnston's stain vectors (rows: haematoxylin, eosin, DAB) in RGB optical density, as scikit-image's ``rgb2hed``.
_HED = torch.tensor([[0.65, 0.70, 0.29], [0.07, 0.99, 0.11], [0.27, 0.57, 0.78]])


def _stain_jitter(images: torch.Tensor, strength: float, rand) -> torch.Tensor:
    """Scale and shift each stain's optical density; images are taken as transmittance in 0..1."""
    n = images.shape[0]
    stains = _HED / _HED.norm(dim=1, keepdim=True)
    to_stain = torch.linalg.inv(stains).to(images.device)
    stains = stains.to(images.device)
    density = -torch.log(images.clamp(1e-3, 1.0))  # (N, 3, H, W)
    amounts = torch.einsum("nchw,cs->nshw", density, to_stain)
    alpha = 1 + (rand(n, 3, 1, 1) * 2 - 1) * strength
    beta = (rand(n, 3, 1, 1) * 2 - 1) * strength / 10
    density = torch.einsum("nshw,sc->nchw", amounts * alpha + beta, stains)
    jittered = torch.exp(-density).clamp(0, 1)
    # pixels outside the transmittance range (percentile normalisation overshoots) keep their value
    inside = (images > 1e-3) & (images <= 1.0)
    return torch.where(inside.all(dim=1, keepdim=True), jittered, images)


def _intensity(images: torch.Tensor, config: AugmentConfig, rand) -> torch.Tensor:
    n = images.shape[0]
    shape = (n, 1, 1, 1)
    lo, hi = config.gamma
    gamma = lo + rand(*shape) * (hi - lo)
    images = images.clamp(min=0) ** gamma
    lo, hi = config.contrast
    contrast = lo + rand(*shape) * (hi - lo)
    mean = images.mean(dim=(1, 2, 3), keepdim=True)
    images = (images - mean) * contrast + mean
    if config.noise > 0:
        noise = torch.randn(images.shape, generator=_cpu_gen(rand)).to(images.device)
        images = images + noise * config.noise * rand(*shape)
    if config.blur_probability > 0:
        blurred = F.avg_pool2d(images, 3, stride=1, padding=1, count_include_pad=False)
        pick = rand(*shape) < config.blur_probability
        images = torch.where(pick, blurred, images)
    return images


def _cpu_gen(rand) -> torch.Generator:
    seed = int(rand(1).item() * 2**31)
    return torch.Generator().manual_seed(seed)
