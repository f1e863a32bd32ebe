"""Validation of a model on prepared pairs, through the one scoring path."""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence

from ..model import SegmentationModel
from ..progress import Progress
from ..scoring import score_iter
from .data import Pair


def validate_iter(
    model: SegmentationModel,
    pairs: Sequence[Pair],
    *,
    should_stop: Callable[[], bool] | None = None,
) -> Generator[Progress, None, dict[str, float] | None]:
    """Metrics of ``model`` on ``pairs``; yields progress.

    Each pair's original image is segmented as :func:`medseg_core.segment`
    does and compared with its original labels
    (:func:`medseg_core.scoring.score_iter`), so these are the numbers
    ``medseg evaluate`` gives for the same images.

    Returns
    -------
    dict or None
        :meth:`medseg_core.scoring.Scores.metrics`; None when ``should_stop``
        abandoned the pass.
    """
    scores = yield from score_iter(model, [pair.sample for pair in pairs], should_stop=should_stop)
    return None if scores is None else scores.metrics()

