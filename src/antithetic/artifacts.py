"""Files of the workflow: written atomically, read back with their provenance.

Every output is first written to a temporary file in the target directory and then renamed, so an
interrupted job leaves either the old file or nothing, never a half-written one.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from .sample_set import SampleSet

__all__ = [
    "atomic_path",
    "compute_platform",
    "cpu_description",
    "environment_info",
    "iter_samples",
    "load_sample_addresses",
    "load_samples",
    "save_samples",
    "write_json",
]

_PACKAGES = ("antithetic", "torch", "diffusers", "numpy", "scipy", "snakemake")


@contextmanager
def atomic_path(path: str | Path, suffix: str = ""):
    """Yield a temporary path next to ``path``; rename it onto ``path`` if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or path.suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_json(path: str | Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=_jsonable) + "\n")


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, (np.integer, np.floating)):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    return str(obj)


def cpu_description(cpuinfo: str | Path = "/proc/cpuinfo") -> str:
    """The CPU as its numerics depend on it: model name, architecture and widest vector extension.

    e.g. ``"AMD EPYC (x86_64, AVX-512)"``. BLAS and oneDNN pick their kernels, and so the order of a sum's
    terms, by the CPU's vendor and vector extension, which is why a trained network's last digits differ
    between CPU models. Read from Linux's ``cpuinfo``; elsewhere the model is ``platform.processor()``.
    """
    model, flags = "", set()
    try:
        for line in Path(cpuinfo).read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key == "model name" and not model:
                model = value.strip()
            elif key in ("flags", "Features") and not flags:
                flags = set(value.split())
    except OSError:  # not Linux
        pass
    model = model or platform.processor() or "unknown CPU"
    extension = next((name for flag, name in (("avx512f", "AVX-512"), ("avx2", "AVX2"), ("avx", "AVX"), ("sve", "SVE"),
                                              ("asimd", "NEON")) if flag in flags), None)
    details = ", ".join(filter(None, (platform.machine(), extension)))
    return f"{model} ({details})" if details else model


def compute_platform() -> str:
    """What a run's numbers depend on beyond its config and seeds: CPU, CPU count and torch version.

    e.g. ``"AMD EPYC (x86_64, AVX-512), 2 CPUs, torch 2.14.1"`` (the CPU count sets the threads of training).
    """
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        torch = f"torch {metadata.version('torch')}"
    except metadata.PackageNotFoundError:
        torch = "no torch"
    return f"{cpu_description()}, {cpus} CPUs, {torch}"


def environment_info() -> dict[str, Any]:
    """Python, platform, CPU and package versions, for provenance."""
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu": cpu_description(),
        "packages": versions,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def save_samples(path: str | Path, samples: SampleSet) -> None:
    """Save a :class:`SampleSet` as ``.npz`` (atomically)."""
    arrays = {
        "samples": samples.samples,
        "indices": samples.indices,
        "groups": samples.groups,
        "members": samples.members,
        **{f"extra_{k}": v for k, v in samples.extras.items()},
    }
    meta = {"design": samples.design, "sampler": samples.sampler, "seconds": samples.seconds}
    if samples.noise_shape is not None:
        meta["noise_shape"] = list(samples.noise_shape)
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez_compressed(tmp, meta=np.array(json.dumps(meta, default=_jsonable)), **arrays)


def load_samples(path: str | Path) -> SampleSet:
    """Load a :class:`SampleSet` written by :func:`save_samples`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"samples file {str(path)!r} not found; run the sampling rule that writes it")
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(str(data["meta"]))
        extras = {k[len("extra_"):]: data[k] for k in data.files if k.startswith("extra_")}
        return SampleSet(
            samples=data["samples"],
            indices=data["indices"],
            groups=data["groups"],
            members=data["members"],
            design=meta["design"],
            sampler=meta["sampler"],
            seconds=float(meta.get("seconds", 0.0)),
            extras=extras,
            noise_shape=tuple(meta["noise_shape"]) if "noise_shape" in meta else None,
        )


def load_sample_addresses(path: str | Path) -> SampleSet:
    """A samples file without its samples: addresses, design, sampler and extras (read in full).

    ``samples`` is an empty array ``(0, *sample_shape)``; read the samples with :func:`iter_samples`.
    ``num_samples`` is ``len(indices)``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"samples file {str(path)!r} not found; run the sampling rule that writes it")
    shape, dtype = _samples_header(path)
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(str(data["meta"]))
        return SampleSet(
            samples=np.empty((0, *shape[1:]), dtype=dtype),
            indices=data["indices"],
            groups=data["groups"],
            members=data["members"],
            design=meta["design"],
            sampler=meta["sampler"],
            seconds=float(meta.get("seconds", 0.0)),
            extras={k[len("extra_"):]: data[k] for k in data.files if k.startswith("extra_")},
            noise_shape=tuple(meta["noise_shape"]) if "noise_shape" in meta else None,
        )


def _read_header(stream) -> tuple[tuple[int, ...], np.dtype]:
    version = np.lib.format.read_magic(stream)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(stream)
    else:
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(stream)
    if fortran or dtype.hasobject:
        raise ValueError("samples stored in Fortran order or as objects cannot be read in chunks")
    return tuple(shape), dtype


def _samples_header(path: Path) -> tuple[tuple[int, ...], np.dtype]:
    with zipfile.ZipFile(path) as archive, archive.open("samples.npy") as stream:
        return _read_header(stream)


def iter_samples(path: str | Path, chunk_size: int = 64) -> Iterator[np.ndarray]:
    """The samples of a samples file, ``chunk_size`` at a time, in the file's order.

    Reads the ``samples`` member of the ``.npz`` as a stream (compressed or not), so at most one chunk
    is in memory: the concatenated chunks equal ``load_samples(path).samples`` bit for bit.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"samples file {str(path)!r} not found; run the sampling rule that writes it")
    with zipfile.ZipFile(path) as archive, archive.open("samples.npy") as stream:
        shape, dtype = _read_header(stream)
        row = int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize
        for lo in range(0, shape[0], chunk_size):
            n = min(chunk_size, shape[0] - lo)
            buffer = bytearray(n * row)
            view = memoryview(buffer)
            got = 0
            while got < len(buffer):
                read = stream.readinto(view[got:])
                if not read:
                    raise ValueError(f"samples file {str(path)!r} ends before its {shape[0]} samples")
                got += read
            yield np.frombuffer(buffer, dtype=dtype).reshape(n, *shape[1:])
