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

**Input contract.** Without ``value_range`` the built-ins take raw sampler outputs of this library: NCHW,
model range [-1, 1], values outside it clamped (a sampler's final step can overshoot). Images from a
diffusers pipeline are in [0, 1] (``output_type="pt"``: NCHW tensors; ``"np"``: NHWC arrays) or PIL
images on 0-255: either pass ``value_range`` and ``layout`` (e.g. ``brightness(images, value_range=(0, 1),
layout="NHWC")``) or convert once with :func:`to_model_range`. A declared ``value_range`` is checked: values
outside it by more than ``RANGE_TOLERANCE`` of its width raise ``ValueError`` naming ``value_range``, so a
[0, 1] image declared as [-1, 1] (or a 0-255 one declared as [0, 1]) is an error, not a wrong number.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = [
    "LAYOUTS",
    "RANGE_TOLERANCE",
    "brightness",
    "contrast",
    "evaluate_statistic",
    "intensity",
    "load_statistic",
    "mean_image",
    "to_model_range",
]

Statistic = Callable[[np.ndarray], np.ndarray]
ValueRange = tuple[float, float]

#: image layouts: batch, channels, height, width
LAYOUTS = ("NCHW", "NHWC")
#: values may leave a declared ``value_range`` by this fraction of its width (rounding of a decoder's output)
RANGE_TOLERANCE = 1e-3


def _as_array(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):  # a torch tensor, on any device
        x = x.detach().float().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def _check_range(x: np.ndarray, value_range: ValueRange, name: str = "value_range") -> None:
    try:
        low, high = (float(v) for v in value_range)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (low, high) such as (-1, 1) or (0, 1), got {value_range!r}") from None
    if not high > low:
        raise ValueError(f"{name} must be a pair (low, high) with low < high, got {value_range!r}")
    if x.size == 0:
        return
    tol = RANGE_TOLERANCE * (high - low)
    lo, hi = float(np.nanmin(x)), float(np.nanmax(x))
    if lo < low - tol or hi > high + tol:
        hint = ""
        if lo >= -tol and hi <= 1 + tol:
            hint = " (they fit (0, 1): diffusers' output_type='pt' or 'np')"
        elif lo >= -1 - tol and hi <= 1 + tol:
            hint = " (they fit (-1, 1): this library's sampler outputs)"
        elif lo >= -tol and hi <= 255 + tol:
            hint = " (they fit (0, 255): 8-bit images)"
        raise ValueError(f"values lie in [{lo:.4g}, {hi:.4g}], outside {name}={tuple(value_range)}{hint}; declare the range the "
                         "images are in, or convert them with to_model_range")


def _to_nchw(x: np.ndarray, layout: str) -> np.ndarray:
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    if layout == "NHWC":
        if x.ndim != 4:
            raise ValueError(f"layout='NHWC' needs 4-D images (N, H, W, C), got shape {x.shape}")
        return np.moveaxis(x, -1, 1)
    return x


def to_model_range(images: Any, *, value_range: ValueRange | None = None, layout: str | None = None) -> np.ndarray:
    """Pipeline outputs as NCHW float64 in the model range [-1, 1], the input of the built-in statistics.

    Args:
        images: a PIL image or a list of them (``output_type="pil"``: 0-255, NHWC), a numpy array
            (``output_type="np"``: NHWC in [0, 1]) or a torch tensor (``output_type="pt"``: NCHW in [0, 1]);
            also a pipeline's output object (its ``images``).
        value_range: the range of ``images`` (default: (0, 255) for PIL, (0, 1) for arrays and tensors);
            checked: values outside it raise ValueError.
        layout: ``"NCHW"`` or ``"NHWC"`` (default: NHWC for PIL and numpy, NCHW for torch, as diffusers returns them).

    Raises:
        ValueError: values outside ``value_range``, or a bad ``layout``.
    """
    if hasattr(images, "images") and not hasattr(images, "shape"):
        images = images.images
    is_pil = hasattr(images, "getbands") or (isinstance(images, (list, tuple)) and images and hasattr(images[0], "getbands"))
    if is_pil:
        pictures = [images] if hasattr(images, "getbands") else list(images)
        arrays = [np.asarray(p, dtype=np.float64) for p in pictures]
        x = np.stack([a[..., None] if a.ndim == 2 else a for a in arrays])
        default_range, default_layout = (0.0, 255.0), "NHWC"
    elif hasattr(images, "detach"):
        x, default_range, default_layout = _as_array(images), (0.0, 1.0), "NCHW"
    else:
        x = _as_array(images)
        default_range, default_layout = (0.0, 1.0), "NHWC"
    value_range = default_range if value_range is None else value_range
    layout = default_layout if layout is None else layout
    _check_range(x, value_range)
    x = _to_nchw(x, layout)
    low, high = (float(v) for v in value_range)
    return np.clip(2.0 * (x - low) / (high - low) - 1.0, -1.0, 1.0)


def _model_range(x: Any, value_range: ValueRange | None, layout: str) -> np.ndarray:
    """Images as NCHW float64 in [-1, 1] (model range; unchecked and clamped later when no range is declared)."""
    arr = _as_array(x)
    if value_range is None:
        return _to_nchw(arr, layout)
    _check_range(arr, value_range)
    low, high = (float(v) for v in value_range)
    return _to_nchw(2.0 * (arr - low) / (high - low) - 1.0, layout)


def intensity(x: Any, *, value_range: ValueRange | None = None, layout: str = "NCHW") -> np.ndarray:
    """Pixel intensities on 0-255: ``255 * clamp((x + 1) / 2, 0, 1)`` in float64 (NCHW).

    Args:
        x: images; without ``value_range`` raw sampler outputs in the model range [-1, 1] (clamped).
        value_range: the declared range of ``x``, e.g. ``(0, 1)`` for diffusers' ``output_type="pt"``; checked.
        layout: ``"NCHW"`` (default) or ``"NHWC"``.
    """
    return 255.0 * np.clip((_model_range(x, value_range, layout) + 1.0) / 2.0, 0.0, 1.0)


def brightness(x: Any, *, value_range: ValueRange | None = None, layout: str = "NCHW") -> np.ndarray:
    """Mean intensity of each sample on 0-255 (the paper's Table 2 statistic), shape ``(N,)``.

    ``value_range`` and ``layout`` as :func:`intensity`: e.g. ``brightness(pipe(..., output_type="pt").images,
    value_range=(0, 1))``.
    """
    return intensity(x, value_range=value_range, layout=layout).reshape(len(x), -1).mean(axis=1)


def mean_image(x: Any, *, value_range: ValueRange | None = None, layout: str = "NCHW") -> np.ndarray:
    """Per-pixel intensity on 0-255, shape ``(N, C, H, W)``; its mean is the mean image (arguments as :func:`intensity`)."""
    return intensity(x, value_range=value_range, layout=layout)


def contrast(x: Any, *, value_range: ValueRange | None = None, layout: str = "NCHW") -> np.ndarray:
    """RMS contrast: the standard deviation of each sample's intensities on 0-255, shape ``(N,)`` (arguments as :func:`intensity`)."""
    return intensity(x, value_range=value_range, layout=layout).reshape(len(x), -1).std(axis=1)


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


def evaluate_statistic(fn: Statistic, x: np.ndarray, *, name: str = "statistic", indices: Any = None) -> np.ndarray:
    """Apply ``fn`` to samples ``x`` and check it returns finite values, one leading entry per sample.

    A statistic with ``takes_indices = True`` (:class:`antithetic.semantic_statistics.IndexedStatistic`) is
    called as ``fn(x, indices=indices)``, ``indices`` being the sample indices of ``x``.
    """
    if getattr(fn, "takes_indices", False):
        if indices is None or len(indices) != len(x):
            raise ValueError(f"statistic {name!r} needs the sample index of each of the {len(x)} samples")
        values = np.asarray(fn(x, indices=np.asarray(indices)), dtype=np.float64)
    else:
        values = np.asarray(fn(x), dtype=np.float64)
    if values.ndim == 0 or values.shape[0] != len(x):
        raise ValueError(f"statistic {name!r} must return one value (or array) per sample: got shape {values.shape} for {len(x)} samples")
    if not np.isfinite(values).all():
        raise ValueError(f"statistic {name!r} returned non-finite values")
    return values
