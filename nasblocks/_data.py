"""Proxy datasets for search: small image sets held whole, as tensors, in device memory.

A search trains hundreds of candidates for a few epochs each; with the data already normalised
on the device, an epoch is a loop of slices and no DataLoader workers or host-to-device copies
slow it down. Nothing is ever downloaded: ``digits`` ships inside scikit-learn, and CIFAR-10 and
image folders are read from a local path.

>>> data = load_dataset("digits", resolution=16, device=torch.device("cpu"))
>>> data
Dataset(name='digits', train=1437x3x16x16, val=360x3x16x16, num_classes=10)
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.model_selection import train_test_split
from sklearn.utils import resample

from nasblocks.errors import DataError

if TYPE_CHECKING:
    from rich.console import Console

_SOURCES = "'digits', 'cifar10:<path>' or 'folder:<path>'"
_CIFAR_DIR = "cifar-10-batches-py"
_CIFAR_ARCHIVE = "cifar-10-python.tar.gz"
_CIFAR_FILES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"]
_FOLDER_LAYOUT = "root/<class>/<image>.png (one subfolder per class)"
# the folder macOS puts in the zips it makes, beside the images: '._name' files, none an image
_MACOS_ZIP_DIR = "__MACOSX"


@dataclass(frozen=True)
class Dataset:
    """Train and validation tensors (``N x C x H x W`` float, ``N`` int64 labels) on one device."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    num_classes: int
    in_channels: int
    resolution: int
    name: str
    classes: tuple[str, ...]

    def __repr__(self) -> str:
        shape = "x".join(str(d) for d in self.train_x.shape[1:])
        return (f"Dataset(name={self.name!r}, train={len(self.train_x)}x{shape}, "
                f"val={len(self.val_x)}x{shape}, num_classes={self.num_classes})")


def load_dataset(source: str = "digits", *, resolution: int | None, device: torch.device,
                 val_fraction: float = 0.2, seed: int = 0, limit: int | None = None,
                 console: Console | None = None) -> Dataset:
    """Load ``digits``, ``cifar10:<path>`` or ``folder:<path>`` as normalised tensors on ``device``.

    Images are resized to ``resolution`` (default: native, 8 for digits, 32 otherwise) and always
    have 3 channels: the zoo's stems take RGB, so grayscale images are repeated across channels
    rather than asking every spec to change its first conv. Each channel is normalised with the
    training split's mean and std. ``val_fraction`` of the examples, and at least one per class,
    are held out, stratified by class and seeded; CIFAR-10 keeps its official test batch as the
    validation set instead. ``limit`` caps the examples used (train and validation together),
    each class keeping its share, for quick runs: only the images kept are read. While an image
    folder is read, a progress bar shows on ``console`` if it is a terminal. Raises
    :class:`DataError` naming the source, the file or class, and what is wrong.
    """
    kind, _, path = source.partition(":")
    if resolution is not None and resolution < 1:
        raise DataError(f"dataset {source!r}: expected a positive resolution, got {resolution}")
    if not 0 < val_fraction < 1:
        raise DataError(f"dataset {source!r}: expected 0 < val_fraction < 1, got {val_fraction}")
    if kind == "digits" and not path:
        images, labels, classes = _digits()
        train, val = _split(source, labels, classes, val_fraction, seed, limit)
        train_x, train_y, val_x, val_y = images[train], labels[train], images[val], labels[val]
    elif kind == "cifar10" and path:
        (images, labels), (test_images, test_labels), classes = _cifar10(Path(path).expanduser())
        train, val = _cap_cifar(source, labels, test_labels, classes, val_fraction, seed, limit)
        train_x, val_x = (torch.from_numpy(x).permute(0, 3, 1, 2).float().div_(255.0)
                          for x in (images[train], test_images[val]))
        train_y, val_y = labels[train], test_labels[val]
    elif kind == "folder" and path:
        root = Path(path).expanduser()
        files, labels, classes = _folder(root)
        train, val = _split(source, labels, classes, val_fraction, seed, limit)
        kept = [files[i] for i in np.concatenate([train, val])]
        _check_fits(source, len(kept), resolution or 32, device)  # before reading any
        images = _read_images(root, kept, resolution or 32, console).float().div_(255.0)
        train_x, train_y, val_x, val_y = images[:len(train)], labels[train], images[len(train):], labels[val]
    else:
        raise DataError(f"dataset {source!r}: expected {_SOURCES}, got {source!r}")
    _check_fits(source, len(train_x) + len(val_x), resolution or train_x.shape[-1], device)  # resized, on device
    if resolution is not None and train_x.shape[-1] != resolution:
        train_x, val_x = (F.interpolate(t, size=(resolution, resolution), mode="bilinear",
                                        antialias=True, align_corners=False) for t in (train_x, val_x))
    # normalise with statistics of the training split only, so validation stays unseen; in place:
    # every tensor here is this call's own, and a folder's images need no second copy
    mean = train_x.mean(dim=(0, 2, 3), keepdim=True)
    std = train_x.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6)  # a constant channel stays finite
    return Dataset(
        train_x=train_x.sub_(mean).div_(std).to(device), train_y=torch.from_numpy(train_y).to(device),
        val_x=val_x.sub_(mean).div_(std).to(device), val_y=torch.from_numpy(val_y).to(device),
        num_classes=len(classes), in_channels=train_x.shape[1], resolution=train_x.shape[-1],
        name=source, classes=tuple(classes),
    )


def _check_fits(source: str, n: int, resolution: int, device: torch.device) -> None:
    """Refuse data that outgrow the memory holding them before they are made (``--resolution 224``
    of CIFAR-10's 60,000 images takes 36 GB): torch would fail allocating them with a traceback, or
    the kernel kill the process. They are made in this process's memory, then moved to the GPU of
    a GPU search, whose free memory must hold them too."""
    from rich.filesize import decimal

    from nasblocks._memory import host_memory

    need = n * 3 * resolution * resolution * torch.float32.itemsize
    room, where = host_memory()  # they are made here, and moved to a GPU once ready
    if device.type == "cuda" and (free := torch.cuda.mem_get_info(device)[0]) < room:
        room, where = free, f"the free memory of {device}"
    if need > room:
        raise DataError(f"dataset {source!r}: {n:,} images at {resolution}×{resolution} take {decimal(need)} as "
                        f"float32, more than {where} ({decimal(room)}); lower the resolution, or limit the images")


def _digits() -> tuple[torch.Tensor, np.ndarray, list[str]]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = torch.from_numpy(digits.images).float().div_(16.0).unsqueeze(1).repeat(1, 3, 1, 1)
    return x, digits.target.astype(np.int64), [str(c) for c in digits.target_names]


def _cifar10(root: Path) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray], list[str]]:
    """The training and test batches, as ``N x 32 x 32 x 3`` uint8 images and int64 labels."""
    from torchvision.datasets import CIFAR10
    from torchvision.datasets.utils import check_integrity

    if root.name in (_CIFAR_DIR, _CIFAR_ARCHIVE):  # the batches folder, or the archive beside it
        root = root.parent
    expected = f"expected {root / _CIFAR_DIR}/ holding {', '.join(_CIFAR_FILES)} (CIFAR-10 python version)"
    if not root.is_dir():
        raise _not_a_folder("cifar10", root, expected)
    missing = [f for f in _CIFAR_FILES if not (root / _CIFAR_DIR / f).is_file()]
    if missing:
        archive = root / _CIFAR_ARCHIVE
        unpack = (f"; extract the archive first: tar -xzf {archive} -C {root}"
                  if archive.is_file() and not (root / _CIFAR_DIR).exists() else "")
        raise DataError(f"cifar10 path {str(root)!r}: {expected}; missing {', '.join(missing)}{unpack}")
    try:
        train, test = (CIFAR10(str(root), train=t, download=False) for t in (True, False))
    except RuntimeError as e:  # torchvision's MD5 check failed
        files = [*CIFAR10.train_list, *CIFAR10.test_list, [CIFAR10.meta["filename"], CIFAR10.meta["md5"]]]
        bad = [name for name, md5 in files if not check_integrity(str(root / _CIFAR_DIR / name), md5)]
        raise DataError(f"cifar10 path {str(root)!r}: {expected}; {', '.join(bad)} fail torchvision's "
                        f"checksum of the published files") from e
    return ((train.data, np.asarray(train.targets, dtype=np.int64)),
            (test.data, np.asarray(test.targets, dtype=np.int64)), list(train.classes))


def _not_a_folder(kind: str, root: Path, expected: str) -> DataError:
    """``root`` is not there, or is a file (an archive not extracted, an image) where a folder is meant."""
    what = "is a file, not a folder" if root.exists() else "does not exist"
    return DataError(f"{kind} path {str(root)!r} {what}; {expected}")


def _folder(root: Path) -> tuple[list[str], np.ndarray, list[str]]:
    """The image files of ``root``'s class folders (and of their subfolders), their labels, the classes.

    Skipped, as no class and no image: hidden files and folders, what macOS, Windows' shares and
    Jupyter leave beside images (``.DS_Store``, ``._photo.jpg``, ``.ipynb_checkpoints/``), macOS's
    ``__MACOSX`` folder, and files without an image extension (``README.txt``, ``Thumbs.db``).
    """
    from torchvision.datasets.folder import IMG_EXTENSIONS, has_file_allowed_extension

    if not root.is_dir():
        raise _not_a_folder("folder", root, f"expected {_FOLDER_LAYOUT}")
    classes = sorted(e.name for e in os.scandir(root) if e.is_dir() and not _skipped(e.name))
    if not classes:  # images not sorted into classes yet: say where they go
        loose = sum(e.is_file() and not _skipped(e.name) and has_file_allowed_extension(e.name, IMG_EXTENSIONS)
                    for e in os.scandir(root))
        held = (f" (it holds {loose} image{'s' * (loose != 1)} itself: put each class's in a subfolder named "
                f"after it)") if loose else ""
        raise DataError(f"folder path {str(root)!r} has no class subfolders{held}; expected {_FOLDER_LAYOUT}")

    found = [_images(root / name) for name in classes]
    empty = [repr(name) for name, files in zip(classes, found) if not files]
    if empty:
        raise DataError(f"folder path {str(root)!r}: {_classes(empty)} no images (files ending "
                        f"{', '.join(IMG_EXTENSIONS)}); expected {_FOLDER_LAYOUT}")
    if len(classes) < 2:  # every network would score 100 %: nothing to rank them by
        raise DataError(f"folder path {str(root)!r} has one class, {classes[0]!r}; a search ranks networks "
                        f"by telling classes apart: expected two class subfolders or more")
    labels = np.repeat(np.arange(len(classes), dtype=np.int64), [len(files) for files in found])
    return [file for files in found for file in files], labels, classes


def _images(folder: Path) -> list[str]:
    """The image files under ``folder``, in the order of torchvision's ImageFolder. Links to
    folders are followed, as there, but each real folder is read once: ImageFolder's
    ``os.walk(followlinks=True)`` follows a link to a folder above it round and round until the
    path is too long, reading its images again at each turn (two such links: 2 ** 40 turns)."""
    from torchvision.datasets.folder import IMG_EXTENSIONS, has_file_allowed_extension

    walked: list[tuple[str, list[str]]] = []
    seen: set[str] = set()
    for folder_path, folders, files in os.walk(folder, followlinks=True):
        real = os.path.realpath(folder_path)
        if real in seen:
            folders.clear()
            continue
        seen.add(real)
        folders[:] = sorted(f for f in folders if not _skipped(f))  # sorted: which of two links is read is fixed
        walked.append((folder_path, sorted(f for f in files if not _skipped(f)
                                           and has_file_allowed_extension(f, IMG_EXTENSIONS))))
    return [os.path.join(path, file) for path, files in sorted(walked) for file in files]


def _skipped(name: str) -> bool:
    return name.startswith(".") or name == _MACOS_ZIP_DIR


def _classes(shown: list[str]) -> str:
    """``class 'a' has`` or ``classes 'a', 'b' have``, the first five named."""
    names = ", ".join(shown[:5]) + (f" and {len(shown) - 5} more" if len(shown) > 5 else "")
    return f"class {names} has" if len(shown) == 1 else f"classes {names} have"


def _read_images(root: Path, files: list[str], size: int, console: Console | None) -> torch.Tensor:
    """The images as one ``N x 3 x size x size`` uint8 tensor, filled in place (no list to stack)."""
    from PIL import Image
    from rich.progress import track

    images = torch.empty((len(files), 3, size, size), dtype=torch.uint8)
    shown = track(files, description=f"reading {len(files)} images from {root}", console=console,
                  transient=True, disable=console is None or not console.is_terminal)
    for i, file in enumerate(shown):
        try:
            images[i] = _read_image(file, size)
        # a damaged file: OSError mostly, but Pillow's parsers raise SyntaxError (a PNG chunk) and
        # ValueError (a PPM or TIFF header) too, and a damaged header can claim any size
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
            raise DataError(f"folder path {str(root)!r}: cannot read image {file!r} ({e})") from e
    return images


def _read_image(file: str, size: int) -> torch.Tensor:
    """One image as ``3 x size x size`` uint8 RGB, squashed to a square rather than cropped (a proxy
    keeps every pixel of a small image), upright as a viewer shows it; alpha is dropped."""
    from PIL import Image, ImageOps
    from torchvision.transforms.functional import pil_to_tensor

    # Pillow warns of what it reads anyway (corrupt EXIF, a palette's transparency, a large image),
    # from its own lines and without the file's name: noise in a search's output
    with warnings.catch_warnings(action="ignore"), Image.open(file) as img:
        img.draft("RGB", (size, size))  # a large JPEG decodes at 1/2 to 1/8 of its size: a photo 9x faster
        ImageOps.exif_transpose(img, in_place=True)  # a phone's portrait photo stands as taken
        if img.mode.startswith(("I", "F")):  # 16- or 32-bit integers, 32-bit floats: convert() clips at 255
            img = Image.fromarray(_stretched(np.asarray(img)))
        return pil_to_tensor(img.convert("RGB").resize((size, size), Image.Resampling.BILINEAR))


def _stretched(pixels: np.ndarray) -> np.ndarray:
    """Grayscale of any range as 8 bits, from the image's darkest finite value (0) to its brightest
    (255), as scientific viewers (ImageJ) show 16-bit and float images: a 12-bit camera's image in
    a 16-bit file spans the 256 levels, not the 16 darkest, and a float image in 0..1 or in metres
    is not clipped. NaN and infinities, and a flat image, read as black."""
    values = pixels.astype(np.float64)
    finite = np.isfinite(values)
    low, high = (values[finite].min(), values[finite].max()) if finite.any() else (0.0, 0.0)
    scale = 255 / (high - low) if high > low else 0.0
    return ((np.where(finite, values, low) - low) * scale).round().astype(np.uint8)


def _split(source: str, labels: np.ndarray, classes: list[str], val_fraction: float, seed: int,
           limit: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the training and the validation examples, stratified by class and seeded."""
    index = np.arange(len(labels))
    if limit is not None and limit < len(labels):
        index = _cap(source, labels, classes, limit, limit, seed)
    counts = np.bincount(labels[index], minlength=len(classes)).tolist()
    few = [f"{c!r} ({n} example{'s' * (n != 1)})" for c, n in zip(classes, counts) if n < 2]
    if few:
        under = f" once a limit of {limit} examples keeps each class's share" if len(index) < len(labels) else ""
        raise DataError(f"dataset {source!r}: {_classes(few)} fewer than 2 examples{under}; every class "
                        f"needs 2 or more, to train on and to validate on")
    n_val = _val_size(len(index), len(classes), val_fraction)
    train, val = train_test_split(index, test_size=n_val, stratify=labels[index], random_state=seed)
    return train, val


def _cap_cifar(source: str, labels: np.ndarray, test_labels: np.ndarray, classes: list[str],
               val_fraction: float, seed: int, limit: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the training and test batches' examples kept: ``limit`` in all, ``val_fraction``
    of them (and one per class at least) from the test batch."""
    if limit is None:
        return np.arange(len(labels)), np.arange(len(test_labels))
    n_val = _val_size(limit, len(classes), val_fraction)
    return (_cap(source, labels, classes, limit - n_val, limit, seed),
            _cap(source, test_labels, classes, n_val, limit, seed))


def _val_size(n: int, num_classes: int, val_fraction: float) -> int:
    """``val_fraction`` of ``n`` (rounded up, as scikit-learn's split does), but one example per
    class at least in either part: many classes of few images each split as well as few classes."""
    return min(max(math.ceil(val_fraction * n), num_classes), n - num_classes)


def _cap(source: str, labels: np.ndarray, classes: list[str], n: int, limit: int, seed: int) -> np.ndarray:
    """``n`` of the examples (all if there are no more), each class keeping its share; sorted, so
    files are read in their folder's order."""
    if limit < 2 * len(classes):
        raise DataError(f"dataset {source!r}: a limit of {limit} examples leaves fewer than 2 of each of "
                        f"the {len(classes)} classes, one to train on and one to validate on: expected "
                        f"a limit of {2 * len(classes)} or more")
    if n >= len(labels):
        return np.arange(len(labels))
    return np.sort(resample(np.arange(len(labels)), replace=False, n_samples=n, stratify=labels,
                            random_state=seed))
