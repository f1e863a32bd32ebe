"""Loss functions for instance (foreground + distance) and semantic models."""

from __future__ import annotations

import torch
from torch.nn import functional as F

CONTACT_WEIGHT = 10.0
"""Default extra weight of the contact band in :func:`instance_loss`."""


def soft_dice_loss(probabilities: torch.Tensor, targets: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """``1 - Dice`` of soft predictions, pooled over the batch per channel.

    Both inputs are ``(N, C, H, W)`` in ``[0, 1]``.
    """
    dims = (0, 2, 3)
    intersection = (probabilities * targets).sum(dims)
    total = probabilities.sum(dims) + targets.sum(dims)
    return 1 - ((2 * intersection + eps) / (total + eps)).mean()


def instance_loss(
    logits: torch.Tensor, targets: torch.Tensor, distance_weight: float = 5.0, contact_weight: float = CONTACT_WEIGHT
) -> torch.Tensor:
    """Loss of an instance model.

    Parameters
    ----------
    logits : Tensor
        ``(N, 2, H, W)``: foreground logit, distance logit.
    targets : Tensor
        ``(N, 3, H, W)``: foreground mask, normalised distance, contact band
        (:func:`~medseg_core.training.targets.instance_targets`).
    distance_weight : float
        Weight of the distance term.
    contact_weight : float
        Extra weight of pixels in the contact band, where touching objects
        are told apart (as in the U-Net paper's border weights): cross-entropy
        and distance error count ``1 + contact_weight`` times there.
    """
    fg_logit, dist_logit = logits[:, :1], logits[:, 1:]
    fg, dist, contact = targets[:, :1], targets[:, 1:2], targets[:, 2:3]
    weight = 1 + contact_weight * contact
    weight = weight / weight.mean()
    bce = (F.binary_cross_entropy_with_logits(fg_logit, fg, reduction="none") * weight).mean()
    dice = soft_dice_loss(torch.sigmoid(fg_logit), fg)
    distance = ((torch.sigmoid(dist_logit) - dist) ** 2 * weight).mean()
    return bce + dice + distance_weight * distance


def semantic_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy plus soft Dice for ``(N, C, H, W)`` logits and ``(N, 1, H, W)`` class indices."""
    classes = targets[:, 0].round().long().clamp_(0, logits.shape[1] - 1)
    ce = F.cross_entropy(logits, classes)
    one_hot = F.one_hot(classes, logits.shape[1]).permute(0, 3, 1, 2).float()
    return ce + soft_dice_loss(torch.softmax(logits, 1), one_hot)
