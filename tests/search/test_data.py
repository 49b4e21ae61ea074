import pickle
import re

import numpy as np
import pytest
import torch
from PIL import Image

from nasblocks._data import load_dataset
from nasblocks.errors import DataError

CPU = torch.device("cpu")
CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def test_digits_is_the_whole_embedded_set_as_three_channels():
    data = load_dataset("digits", resolution=None, device=CPU)
    assert len(data.train_y) + len(data.val_y) == 1797
    assert data.num_classes == 10 and data.in_channels == 3 and data.resolution == 8
    assert data.train_x.shape == (1437, 3, 8, 8) and data.val_x.shape == (360, 3, 8, 8)
    assert data.train_x.dtype == torch.float32 and data.train_y.dtype == torch.long
    assert torch.equal(data.train_x[:, 0], data.train_x[:, 2])  # grayscale repeated
    # normalised with train statistics, and the split is stratified
    assert data.train_x.mean().abs() < 1e-4 and (data.train_x.std() - 1).abs() < 1e-2
    assert set(data.val_y.tolist()) == set(range(10))
    assert repr(data) == "Dataset(name='digits', train=1437x3x8x8, val=360x3x8x8, num_classes=10)"


def test_digits_resolution_limit_and_seed():
    data = load_dataset("digits", resolution=32, device=CPU, limit=200, val_fraction=0.25, seed=1)
    assert data.train_x.shape == (150, 3, 32, 32) and data.val_x.shape == (50, 3, 32, 32)
    assert data.resolution == 32
    again = load_dataset("digits", resolution=32, device=CPU, limit=200, val_fraction=0.25, seed=1)
    other = load_dataset("digits", resolution=32, device=CPU, limit=200, val_fraction=0.25, seed=2)
    assert torch.equal(data.val_y, again.val_y) and torch.equal(data.train_x, again.train_x)
    assert not torch.equal(data.train_x, other.train_x)


def _image_folder(root, classes=("cat", "dog"), per_class=6, size=(20, 14)):
    rng = np.random.default_rng(0)
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / c / f"{i}.png")
    return root


def test_folder_loads_classes_resized(tmp_path):
    root = _image_folder(tmp_path / "imgs")
    data = load_dataset(f"folder:{root}", resolution=None, device=CPU, val_fraction=0.25)
    assert data.classes == ("cat", "dog") and data.num_classes == 2
    assert data.train_x.shape == (9, 3, 32, 32) and data.val_x.shape == (3, 3, 32, 32)
    assert sorted(data.train_y.tolist() + data.val_y.tolist()) == [0] * 6 + [1] * 6
    assert set(data.val_y.tolist()) == {0, 1}
    assert load_dataset(f"folder:{root}", resolution=16, device=CPU).train_x.shape[1:] == (3, 16, 16)


def test_folder_errors_name_the_path_and_layout(tmp_path):
    layout = "expected root/<class>/<image>.png (one subfolder per class)"
    missing = tmp_path / "nope"
    with pytest.raises(DataError) as info:
        load_dataset(f"folder:{missing}", resolution=None, device=CPU)
    assert str(info.value) == f"folder path '{missing}' does not exist or is not a folder; {layout}"

    flat = tmp_path / "flat"
    flat.mkdir()
    Image.new("RGB", (4, 4)).save(flat / "a.png")
    with pytest.raises(DataError) as info:
        load_dataset(f"folder:{flat}", resolution=None, device=CPU)
    assert str(info.value) == f"folder path '{flat}' has no class subfolders; {layout}"

    empty = tmp_path / "empty"
    (empty / "cat").mkdir(parents=True)
    (empty / "cat" / "notes.txt").write_text("not an image")
    with pytest.raises(DataError, match=re.escape(f"folder path '{empty}' has no images; {layout} (Found no valid file")):
        load_dataset(f"folder:{empty}", resolution=None, device=CPU)

    broken = _image_folder(tmp_path / "broken", per_class=3)
    (broken / "cat" / "9.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match=re.escape(f"folder path '{broken}': cannot read image '{broken / 'cat' / '9.png'}'")):
        load_dataset(f"folder:{broken}", resolution=None, device=CPU)


def test_too_few_examples_for_a_stratified_split(tmp_path):
    root = _image_folder(tmp_path / "imgs", per_class=1)
    with pytest.raises(DataError, match="cannot hold out a validation fraction of 0.2 with every class"):
        load_dataset(f"folder:{root}", resolution=None, device=CPU)


def _fake_cifar(root, per_batch=4, test=6):
    """The python-version layout with a few random images per batch (the real files are 163 MB)."""
    rng = np.random.default_rng(0)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)

    def batch(name, n):
        data = rng.integers(0, 256, (n, 3 * 32 * 32), dtype=np.uint8)  # rows are R, G, B planes
        with open(folder / name, "wb") as f:
            pickle.dump({"data": data, "labels": [i % 10 for i in range(n)]}, f)

    for i in range(1, 6):
        batch(f"data_batch_{i}", per_batch)
    batch("test_batch", test)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": CIFAR_CLASSES}, f)
    return root


def test_cifar10_layout_loads(tmp_path, monkeypatch):
    # the fake batches cannot match torchvision's MD5s of the real files
    monkeypatch.setattr("torchvision.datasets.cifar.check_integrity", lambda *args, **kwargs: True)
    root = _fake_cifar(tmp_path / "cifar")
    data = load_dataset(f"cifar10:{root}", resolution=None, device=CPU)
    assert data.train_x.shape == (20, 3, 32, 32) and data.val_x.shape == (6, 3, 32, 32)
    assert data.classes == tuple(CIFAR_CLASSES) and data.num_classes == 10
    assert data.val_y.tolist() == [0, 1, 2, 3, 4, 5]  # the official test batch is the validation set
    # the batches folder itself is accepted too, and resolution resizes
    small = load_dataset(f"cifar10:{root / 'cifar-10-batches-py'}", resolution=16, device=CPU)
    assert small.train_x.shape == (20, 3, 16, 16) and small.resolution == 16


def test_cifar10_errors_name_the_path_and_layout(tmp_path):
    files = "data_batch_1, data_batch_2, data_batch_3, data_batch_4, data_batch_5, test_batch, batches.meta"
    missing = tmp_path / "nope"
    with pytest.raises(DataError) as info:
        load_dataset(f"cifar10:{missing}", resolution=None, device=CPU)
    assert str(info.value) == (f"cifar10 path '{missing}' does not exist or is not a folder; expected "
                               f"{missing}/cifar-10-batches-py/ holding {files} (CIFAR-10 python version)")

    root = _fake_cifar(tmp_path / "partial")
    (root / "cifar-10-batches-py" / "data_batch_3").unlink()
    (root / "cifar-10-batches-py" / "batches.meta").unlink()
    with pytest.raises(DataError) as info:
        load_dataset(f"cifar10:{root}", resolution=None, device=CPU)
    assert str(info.value).startswith(f"cifar10 path '{root}': expected {root}/cifar-10-batches-py/")
    assert str(info.value).endswith("; missing data_batch_3, batches.meta")

    fake = _fake_cifar(tmp_path / "fake")
    with pytest.raises(DataError, match=re.escape(f"cifar10 path '{fake}': expected {fake}/") + ".* fail torchvision's checksum"):
        load_dataset(f"cifar10:{fake}", resolution=None, device=CPU)


@pytest.mark.parametrize("source", ["mnist", "cifar10", "folder:", "digits:/x", ""])
def test_unknown_source(source):
    with pytest.raises(DataError) as info:
        load_dataset(source, resolution=None, device=CPU)
    assert str(info.value) == (f"dataset {source!r}: expected 'digits', 'cifar10:<path>' or "
                               f"'folder:<path>', got {source!r}")


def test_bad_arguments():
    with pytest.raises(DataError, match="dataset 'digits': expected a positive resolution, got 0"):
        load_dataset("digits", resolution=0, device=CPU)
    with pytest.raises(DataError, match=re.escape("dataset 'digits': expected 0 < val_fraction < 1, got 1.0")):
        load_dataset("digits", resolution=None, device=CPU, val_fraction=1.0)


def test_a_folder_of_one_class_ranks_nothing(tmp_path):
    root = _image_folder(tmp_path / "imgs", classes=("cat",))
    with pytest.raises(DataError) as info:
        load_dataset(f"folder:{root}", resolution=None, device=CPU)
    assert str(info.value) == (f"folder path '{root}' has one class, 'cat'; a search ranks networks by telling "
                               "classes apart: expected two class subfolders or more")
