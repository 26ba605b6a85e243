"""Files of the workflow: written atomically, read back with their provenance.

Every output is first written to a temporary file in the target directory and then renamed, so an
interrupted job leaves either the old file or nothing, never a half-written one. The renamed file (or
folder) gets the permissions the process's umask gives a new one, like any other file, not the
owner-only mode of a temporary file.

A file that exists but cannot be read (truncated by a full disk or a killed copy, or overwritten) raises
:class:`UnreadableFileError`, which names the file, what is wrong and the fix: delete it and rerun what
writes it. The workflow adds the rule that writes it.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from .sample_set import SampleSet

__all__ = [
    "UnreadableFileError",
    "atomic_directory",
    "atomic_path",
    "check_weights",
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

#: the fix of an unreadable file that a program wrote
REWRITE = "delete it and rerun what writes it"


class UnreadableFileError(OSError):
    """A file exists but cannot be read: truncated, corrupt or not the format expected.

    ``path`` is the file, ``problem`` what is wrong with it, ``fix`` what to do (by default: delete it and
    rerun what writes it; the workflow names the rule). The message holds all three.
    """

    def __init__(self, path: str | Path, problem: str, *, fix: str = REWRITE):
        self.path, self.problem, self.fix = str(path), problem, fix
        super().__init__(f"cannot read {self.path!r}: {problem}; {fix}")

    def __reduce__(self):
        return (_unreadable, (self.path, self.problem, self.fix))


def _unreadable(path: str, problem: str, fix: str) -> UnreadableFileError:
    return UnreadableFileError(path, problem, fix=fix)


def _umask() -> int:
    """The process's umask (read without changing it where Linux reports it)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore (not thread-safe, like any umask query)
    os.umask(mask)
    return mask


def _chmod_as_new(path: str | Path, *, directory: bool) -> None:
    """Give ``path`` the mode a new file (``0o666``) or folder (``0o777``) gets under the umask."""
    os.chmod(path, (0o777 if directory else 0o666) & ~_umask())


@contextmanager
def atomic_path(path: str | Path, suffix: str = ""):
    """Yield a temporary path next to ``path``; rename it onto ``path`` if the block succeeds.

    The file renamed onto ``path`` has the mode that the umask gives a new file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or path.suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        if os.path.exists(tmp):
            _chmod_as_new(tmp, directory=False)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@contextmanager
def atomic_directory(path: str | Path):
    """Yield a temporary folder next to ``path``; if the block succeeds, replace ``path`` with it.

    The folder gets the mode that the umask gives a new folder (a temporary folder is owner-only).
    An interrupted block leaves the old folder or none, never a half-written one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        yield tmp
        _chmod_as_new(tmp, directory=True)
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def check_weights(folder: str | Path) -> None:
    """Raise :class:`UnreadableFileError` for a ``.safetensors`` file under ``folder`` that cannot be read.

    Reads each file's header and checks that the file is as long as the header says (a truncated or
    overwritten weights file fails here, with its path, instead of deep inside a model's loader).
    """
    for weights in sorted(Path(folder).rglob("*.safetensors")):
        problem = _safetensors_problem(weights)
        if problem:
            raise UnreadableFileError(weights, problem)


def _safetensors_problem(path: Path) -> str | None:
    """What is wrong with the safetensors file ``path`` (header: 8-byte length, JSON; then the data), or None."""
    size = path.stat().st_size
    try:
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                return f"a safetensors file of {size} bytes is truncated (no header)"
            length = int.from_bytes(head, "little")
            if length > size - 8:
                return f"its header claims {length} bytes, the file has {size}: truncated or not a safetensors file"
            header = json.loads(f.read(length))
    except (ValueError, UnicodeDecodeError) as err:
        return f"its safetensors header is not valid JSON ({err}): corrupt"
    if not isinstance(header, dict):
        return "its safetensors header is not a mapping: corrupt"
    ends = [int(t["data_offsets"][1]) for k, t in header.items() if k != "__metadata__" and isinstance(t, dict) and "data_offsets" in t]
    needed = 8 + length + max(ends, default=0)
    if size < needed:
        return f"it has {size} bytes where its header needs {needed}: truncated"
    return None


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
    """Load a :class:`SampleSet` written by :func:`save_samples`.

    Raises:
        FileNotFoundError: there is no file ``path``.
        UnreadableFileError: the file is truncated, corrupt or no samples file (the message names it).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"samples file {str(path)!r} not found; run the sampling rule that writes it")
    try:
        return _read_samples(path)
    except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile, zlib.error) as err:
        what = f"{err.__class__.__name__}: {err}" if str(err) else err.__class__.__name__
        raise UnreadableFileError(path, f"not a complete samples file ({what})") from err


def _read_samples(path: Path, *, with_samples: bool = True) -> SampleSet:
    """The :class:`SampleSet` of ``path``; without its samples (an empty ``(0, *shape)`` array) unless ``with_samples``."""
    shape, dtype = (None, None) if with_samples else _samples_header(path)
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(str(data["meta"]))
        return SampleSet(
            samples=data["samples"] if with_samples else np.empty((0, *shape[1:]), dtype=dtype),
            indices=data["indices"],
            groups=data["groups"],
            members=data["members"],
            design=meta["design"],
            sampler=meta["sampler"],
            seconds=float(meta.get("seconds", 0.0)),
            extras={k[len("extra_"):]: data[k] for k in data.files if k.startswith("extra_")},
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
    return _read_samples(path, with_samples=False)


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
