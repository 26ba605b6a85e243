"""Download a hub checkpoint once into a local folder, so compute nodes can run offline.

:func:`fetch_model` lists the repository, keeps the files a diffusers ``from_pretrained`` needs
(:func:`select_files`: configs, tokenizers and one weights file per component, preferring
safetensors, never single-file checkpoints, fp16/non-EMA variants or the safety checker's weights)
and downloads them with :func:`huggingface_hub.snapshot_download` into ``out_dir`` atomically.
Without hub access it fails within seconds with a message that says what to do.
"""

from __future__ import annotations

import shutil
import socket
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlparse

from ..artifacts import atomic_directory, environment_info, write_json
from ..kinds import is_hub_id
from .errors import ModelNotAvailableError

__all__ = ["fetch_model", "is_hub_id", "select_files"]

_WEIGHT_SUFFIXES = (".safetensors", ".bin")
_NEVER = (".ckpt", ".pt", ".pth", ".msgpack", ".onnx", ".h5", ".onnx_data", ".pb")
_SKIP_DIRS = ("safety_checker",)


def select_files(files: Iterable[str]) -> list[str]:
    """The files of a diffusers repository that ``from_pretrained`` needs, in sorted order.

    Per folder: every ``.json``/``.txt`` file, and one weights format (``.safetensors`` if any, else
    ``.bin``) without ``fp16``/``non_ema``/``ema-only`` variants. Top-level weights are dropped when the
    repository is a pipeline whose components live in sub-folders (Stable Diffusion's single-file
    checkpoints). Safety-checker weights are not needed to sample.
    """
    files = sorted(set(files))
    keep, weights = [], {}
    pipeline_with_folders = "model_index.json" in files and any("/" in f for f in files if f.endswith(_WEIGHT_SUFFIXES))
    for f in files:
        p = PurePosixPath(f)
        folder = str(p.parent)
        if p.name.startswith(".") or p.suffix in _NEVER or (p.parts and p.parts[0] in _SKIP_DIRS and p.suffix in _WEIGHT_SUFFIXES):
            continue
        if p.suffix in (".json", ".txt", ".model"):
            keep.append(f)
        elif p.suffix in _WEIGHT_SUFFIXES:
            if any(v in p.name for v in (".fp16.", "non_ema", "ema-only", "emaonly", "pruned")):
                continue
            if folder == "." and pipeline_with_folders:
                continue
            weights.setdefault(folder, []).append(f)
    for folder, names in weights.items():
        safe = [n for n in names if n.endswith(".safetensors")]
        keep.extend(safe or names)
    return sorted(keep)


def _probe(endpoint: str, timeout: float) -> None:
    url = urlparse(endpoint)
    port = url.port or (443 if url.scheme == "https" else 80)
    with socket.create_connection((url.hostname, port), timeout=timeout):
        pass


def fetch_model(source: str, out_dir: str | Path, *, revision: str | None = None, timeout: float = 5.0) -> dict[str, Any]:
    """Download hub model ``source`` into ``out_dir`` (atomically) and record ``fetch.json`` there.

    Raises:
        ModelNotAvailableError: offline (``HF_HUB_OFFLINE=1`` and not in the local cache, or the hub
            unreachable within ``timeout`` seconds), unknown repository, or no weights.
    """
    from huggingface_hub import HfApi, constants, snapshot_download

    out_dir = Path(out_dir)
    if not is_hub_id(source):
        raise ModelNotAvailableError(
            f"{source!r} is not a hub id (owner/name); local folders need no fetching: set the model's "
            f"'pretrained:' to the folder (and leave 'fetch' at its default)"
        )
    advice = (
        f"Run the fetch where the hub is reachable (`snakemake --cores 1 results/models/<name>` or "
        f"`huggingface-cli download {source} --local-dir <dir>`), copy the folder over, and set the model's "
        f"'pretrained:' to it."
    )
    offline = constants.HF_HUB_OFFLINE
    if not offline:
        try:
            _probe(constants.ENDPOINT, timeout)
        except OSError as err:
            raise ModelNotAvailableError(f"cannot reach the Hugging Face hub ({constants.ENDPOINT}: {err}) to fetch {source!r}. {advice}") from err
    try:
        if offline:  # the local cache is all there is
            files = None
        else:
            files = select_files(HfApi().list_repo_files(source, revision=revision))
            if not any(f.endswith(_WEIGHT_SUFFIXES) for f in files):
                raise ModelNotAvailableError(f"{source!r} has no diffusers weights (.safetensors/.bin) to fetch")
        with atomic_directory(out_dir) as tmp:
            snapshot_download(source, revision=revision, allow_patterns=files, local_dir=tmp, local_files_only=offline)
            shutil.rmtree(tmp / ".cache", ignore_errors=True)
            record = {
                "source": source, "revision": revision, "files": sorted(str(p.relative_to(tmp)) for p in tmp.rglob("*") if p.is_file()),
                "bytes": sum(p.stat().st_size for p in tmp.rglob("*") if p.is_file()), **environment_info(),
            }
            write_json(tmp / "fetch.json", record)
    except ModelNotAvailableError:
        raise
    except Exception as err:  # hub errors: offline cache miss, unknown repo, gated model, network
        first = str(err).splitlines()[0] if str(err) else ""
        raise ModelNotAvailableError(f"could not fetch {source!r}: {err.__class__.__name__}: {first}. {advice}") from err
    return record
