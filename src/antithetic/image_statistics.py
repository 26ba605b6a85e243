"""Statistics of generated images, and user statistics selected by a dotted Python path.

A *statistic* is a function ``S(x) -> values`` of a batch of sampler outputs ``x`` (shape
``(N, C, H, W)``, data range [-1, 1]) returning one value per sample (``(N,)``) or one array per
sample (``(N, ...)``, e.g. a per-pixel statistic); its expectation over the model's law is what the
estimators of :mod:`antithetic.estimators` estimate.

Built in (paper, Table 2 uses brightness):

* :func:`brightness`: mean intensity on the 0-255 scale, ``255 * mean(clamp((x + 1) / 2, 0, 1))``.
* :func:`mean_image`: the per-pixel intensity ``255 * clamp((x + 1) / 2, 0, 1)``; its expectation is
  the mean image, and its per-pixel CI widths form a CI-width map.
* :func:`contrast`: RMS contrast, the standard deviation of a sample's pixel intensities (0-255);
  a non-linear statistic, shipped as an example of a user statistic.

Any importable function with the same signature can be named by its dotted path, e.g.
``"mypackage.stats.ink_fraction"``; :func:`load_statistic` resolves it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

import numpy as np

__all__ = ["brightness", "contrast", "evaluate_statistic", "intensity", "load_statistic", "mean_image"]

Statistic = Callable[[np.ndarray], np.ndarray]


def intensity(x: np.ndarray) -> np.ndarray:
    """Pixel intensities on 0-255: ``255 * clamp((x + 1) / 2, 0, 1)`` in float64."""
    return 255.0 * np.clip((np.asarray(x, dtype=np.float64) + 1.0) / 2.0, 0.0, 1.0)


def brightness(x: np.ndarray) -> np.ndarray:
    """Mean intensity of each sample on 0-255 (the paper's Table 2 statistic), shape ``(N,)``."""
    return intensity(x).reshape(len(x), -1).mean(axis=1)


def mean_image(x: np.ndarray) -> np.ndarray:
    """Per-pixel intensity on 0-255, shape ``(N, C, H, W)``; its mean is the mean image."""
    return intensity(x)


def contrast(x: np.ndarray) -> np.ndarray:
    """RMS contrast: the standard deviation of each sample's intensities on 0-255, shape ``(N,)``."""
    return intensity(x).reshape(len(x), -1).std(axis=1)


def load_statistic(path: str) -> Statistic:
    """Import the function named by a dotted path, ``"package.module.function"`` (or ``module:function``).

    Raises:
        ValueError: ``path`` does not resolve to a callable.
    """
    module_name, sep, attr = path.partition(":") if ":" in path else path.rpartition(".")
    if not sep or not module_name or not attr:
        raise ValueError(f"path={path!r} is not a dotted path like 'package.module.function'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ValueError(f"cannot import module {module_name!r} of statistic path={path!r}: {err}") from err
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise ValueError(f"{module_name!r} has no function {attr!r} (statistic path={path!r})")
    return fn


def evaluate_statistic(fn: Statistic, x: np.ndarray, *, name: str = "statistic") -> np.ndarray:
    """Apply ``fn`` to samples ``x`` and check it returns finite values, one leading entry per sample."""
    values = np.asarray(fn(x), dtype=np.float64)
    if values.ndim == 0 or values.shape[0] != len(x):
        raise ValueError(f"statistic {name!r} must return one value (or array) per sample: got shape {values.shape} for {len(x)} samples")
    if not np.isfinite(values).all():
        raise ValueError(f"statistic {name!r} returned non-finite values")
    return values
