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

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.model_selection import train_test_split

from nasblocks.errors import DataError

_SOURCES = "'digits', 'cifar10:<path>' or 'folder:<path>'"
_CIFAR_DIR = "cifar-10-batches-py"
_CIFAR_FILES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"]
_FOLDER_LAYOUT = "root/<class>/<image>.png (one subfolder per class)"


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
                 val_fraction: float = 0.2, seed: int = 0, limit: int | None = None) -> Dataset:
    """Load ``digits``, ``cifar10:<path>`` or ``folder:<path>`` as normalised tensors on ``device``.

    Images are resized to ``resolution`` (default: native, 8 for digits, 32 otherwise) and always
    have 3 channels: the zoo's stems take RGB, so grayscale digits are repeated across channels
    rather than asking every spec to change its first conv. Each channel is normalised with the
    training split's mean and std. ``val_fraction`` of the examples are held out, stratified by
    class and seeded; CIFAR-10 keeps its official test batch as the validation set instead.
    ``limit`` caps the examples used (train and validation together), again stratified, for quick
    runs. Raises :class:`DataError` naming the source and the expected layout.
    """
    kind, _, path = source.partition(":")
    if resolution is not None and resolution < 1:
        raise DataError(f"dataset {source!r}: expected a positive resolution, got {resolution}")
    if not 0 < val_fraction < 1:
        raise DataError(f"dataset {source!r}: expected 0 < val_fraction < 1, got {val_fraction}")
    if kind == "digits" and not path:
        x, y, classes = _digits()
        splits = _split(source, x, y, val_fraction, seed, limit)
    elif kind in ("cifar10", "folder") and path:
        root = Path(path).expanduser()
        if kind == "cifar10":
            train, val, classes = _cifar10(root)
            splits = _limit(source, *train, *val, val_fraction, seed, limit)
        else:
            x, y, classes = _folder(root, resolution or 32)
            splits = _split(source, x, y, val_fraction, seed, limit)
    else:
        raise DataError(f"dataset {source!r}: expected {_SOURCES}, got {source!r}")
    train_x, train_y, val_x, val_y = splits
    if resolution is not None and train_x.shape[-1] != resolution:
        train_x, val_x = (F.interpolate(t, size=(resolution, resolution), mode="bilinear",
                                        antialias=True, align_corners=False) for t in (train_x, val_x))
    # normalise with statistics of the training split only, so validation stays unseen
    mean = train_x.mean(dim=(0, 2, 3), keepdim=True)
    std = train_x.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6)  # a constant channel stays finite
    return Dataset(
        train_x=((train_x - mean) / std).to(device), train_y=train_y.to(device),
        val_x=((val_x - mean) / std).to(device), val_y=val_y.to(device),
        num_classes=len(classes), in_channels=train_x.shape[1], resolution=train_x.shape[-1],
        name=source, classes=tuple(classes),
    )


def _digits() -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = torch.from_numpy(digits.images).float().div_(16.0).unsqueeze(1).repeat(1, 3, 1, 1)
    return x, torch.from_numpy(digits.target).long(), [str(c) for c in digits.target_names]


def _cifar10(root: Path) -> tuple[tuple[torch.Tensor, torch.Tensor],
                                  tuple[torch.Tensor, torch.Tensor], list[str]]:
    from torchvision.datasets import CIFAR10

    if root.name == _CIFAR_DIR:  # accept the batches folder itself as well as its parent
        root = root.parent
    expected = f"expected {root / _CIFAR_DIR}/ holding {', '.join(_CIFAR_FILES)} (CIFAR-10 python version)"
    if not root.is_dir():
        raise DataError(f"cifar10 path {str(root)!r} does not exist or is not a folder; {expected}")
    missing = [f for f in _CIFAR_FILES if not (root / _CIFAR_DIR / f).is_file()]
    if missing:
        raise DataError(f"cifar10 path {str(root)!r}: {expected}; missing {', '.join(missing)}")
    try:
        train, test = (CIFAR10(str(root), train=t, download=False) for t in (True, False))
    except RuntimeError as e:  # torchvision's MD5 check failed
        raise DataError(f"cifar10 path {str(root)!r}: {expected}; the files fail torchvision's "
                        f"checksum ({e})") from e

    def tensors(ds: CIFAR10) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.from_numpy(np.ascontiguousarray(ds.data)).permute(0, 3, 1, 2).float().div_(255.0)
        return x, torch.tensor(ds.targets, dtype=torch.long)

    return tensors(train), tensors(test), list(train.classes)


def _folder(root: Path, resolution: int) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    from torchvision import transforms
    from torchvision.datasets import ImageFolder

    if not root.is_dir():
        raise DataError(f"folder path {str(root)!r} does not exist or is not a folder; "
                        f"expected {_FOLDER_LAYOUT}")
    if not any(p.is_dir() for p in root.iterdir()):
        raise DataError(f"folder path {str(root)!r} has no class subfolders; expected {_FOLDER_LAYOUT}")
    try:
        ds = ImageFolder(str(root))
    except FileNotFoundError as e:  # class folders without a single image file
        raise DataError(f"folder path {str(root)!r} has no images; expected {_FOLDER_LAYOUT} "
                        f"({e})") from e
    if len(ds.classes) < 2:  # every network would score 100 %: nothing to rank them by
        raise DataError(f"folder path {str(root)!r} has one class, {ds.classes[0]!r}; a search ranks networks "
                        f"by telling classes apart: expected two class subfolders or more")
    # squash to a square rather than crop: a proxy keeps every pixel of small images
    to_tensor = transforms.Compose([transforms.Resize((resolution, resolution)), transforms.ToTensor()])
    images = []
    for file, _ in ds.samples:
        try:
            images.append(to_tensor(ds.loader(file)))  # the default loader converts to RGB
        except OSError as e:
            raise DataError(f"folder path {str(root)!r}: cannot read image {file!r} ({e})") from e
    return torch.stack(images), torch.tensor(ds.targets, dtype=torch.long), list(ds.classes)


def _subsample(source: str, y: torch.Tensor, size: int | float, seed: int,
               what: str) -> tuple[np.ndarray, np.ndarray]:
    """Indices split in two, stratified by class: ``size`` of them (a count or fraction) and the rest."""
    try:
        return train_test_split(np.arange(len(y)), test_size=size, stratify=y.numpy(), random_state=seed)
    except ValueError as e:  # too few examples per class for a stratified split
        raise DataError(f"dataset {source!r}: cannot hold out {what} with every class in both parts "
                        f"({e})") from e


def _split(source: str, x: torch.Tensor, y: torch.Tensor, val_fraction: float, seed: int,
           limit: int | None) -> tuple[torch.Tensor, ...]:
    if limit is not None and limit < len(y):
        _, keep = _subsample(source, y, limit, seed, f"a limit of {limit} examples")
        x, y = x[keep], y[keep]
    train, val = _subsample(source, y, val_fraction, seed, f"a validation fraction of {val_fraction}")
    return x[train], y[train], x[val], y[val]


def _limit(source: str, train_x: torch.Tensor, train_y: torch.Tensor, val_x: torch.Tensor,
           val_y: torch.Tensor, val_fraction: float, seed: int,
           limit: int | None) -> tuple[torch.Tensor, ...]:
    """Cap fixed train/val splits to ``limit`` examples in all, ``val_fraction`` of them for val."""
    if limit is None:
        return train_x, train_y, val_x, val_y
    n_val = round(limit * val_fraction)
    out = []
    for x, y, n in ((train_x, train_y, limit - n_val), (val_x, val_y, n_val)):
        if n < len(y):
            _, keep = _subsample(source, y, n, seed, f"a limit of {limit} examples")
            x, y = x[keep], y[keep]
        out += [x, y]
    return tuple(out)
