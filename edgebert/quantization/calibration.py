"""Calibration data for static quantization: a seeded sample of training sentences, tokenized and padded to
one length. Padding to one length is needed, not cosmetic: ORT's histogram calibrators (entropy, percentile)
stack every batch's activations into one array and fail on batches of different lengths.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from edgebert.errors import RecipeError
from edgebert.recipe import CalibrationConfig

Feeds = dict[str, np.ndarray]


def calibration_feeds(
    encode_padded: Callable[[list[str]], Feeds], texts: list[str], cfg: CalibrationConfig
) -> list[Feeds]:
    if len(texts) < cfg.samples:
        raise RecipeError(
            f"quantize.calibration.samples is {cfg.samples} but the train split has {len(texts)} sentences: "
            f"lower quantize.calibration.samples to at most {len(texts)} (32 at least)"
        )
    order = np.random.default_rng(cfg.seed).permutation(len(texts))[: cfg.samples]
    chosen = [texts[i] for i in order]
    return [encode_padded(chosen[i : i + cfg.batch_size]) for i in range(0, len(chosen), cfg.batch_size)]


def reader(feeds: list[Feeds]):
    """An onnxruntime CalibrationDataReader over `feeds` (a fresh one per quantization: readers are used up)."""
    from onnxruntime.quantization import CalibrationDataReader

    class _Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = iter(feeds)

        def get_next(self) -> Feeds | None:
            return next(self._it, None)

        def rewind(self) -> None:
            self._it = iter(feeds)

    return _Reader()
