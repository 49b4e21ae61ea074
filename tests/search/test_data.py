import io
import pickle
import re
import warnings

import numpy as np
import pytest
import torch
from PIL import Image
from rich.console import Console

import nasblocks
from nasblocks import _data
from nasblocks._data import _read_image, load_dataset
from nasblocks._study import StudyError
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
    assert str(info.value) == f"folder path '{missing}' does not exist; {layout}"

    flat = tmp_path / "flat"
    flat.mkdir()
    Image.new("RGB", (4, 4)).save(flat / "a.png")
    with pytest.raises(DataError) as info:
        load_dataset(f"folder:{flat}", resolution=None, device=CPU)
    assert str(info.value) == (f"folder path '{flat}' has no class subfolders (it holds 1 image itself: put each "
                               f"class's in a subfolder named after it); {layout}")

    empty = tmp_path / "empty"
    for name in ("cat", "dog"):
        (empty / name).mkdir(parents=True)
    (empty / "cat" / "notes.txt").write_text("not an image")
    with pytest.raises(DataError) as info:
        load_dataset(f"folder:{empty}", resolution=None, device=CPU)
    assert str(info.value) == (f"folder path '{empty}': classes 'cat', 'dog' have no images (files ending .jpg, "
                               f".jpeg, .png, .ppm, .bmp, .pgm, .tif, .tiff, .webp); {layout}")
    Image.new("RGB", (4, 4)).save(empty / "dog" / "a.png")
    with pytest.raises(DataError, match=re.escape(f"folder path '{empty}': class 'cat' has no images (files ending")):
        load_dataset(f"folder:{empty}", resolution=None, device=CPU)

    broken = _image_folder(tmp_path / "broken", per_class=3)
    (broken / "cat" / "9.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match=re.escape(f"folder path '{broken}': cannot read image '{broken / 'cat' / '9.png'}'")):
        load_dataset(f"folder:{broken}", resolution=None, device=CPU)


def test_too_few_examples_for_a_stratified_split(tmp_path):
    root = _image_folder(tmp_path / "imgs", per_class=1)
    with pytest.raises(DataError, match=re.escape("classes 'cat' (1 example), 'dog' (1 example) have fewer than 2")):
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
    assert str(info.value) == (f"cifar10 path '{missing}' does not exist; expected "
                               f"{missing}/cifar-10-batches-py/ holding {files} (CIFAR-10 python version)")

    root = _fake_cifar(tmp_path / "partial")
    (root / "cifar-10-batches-py" / "data_batch_3").unlink()
    (root / "cifar-10-batches-py" / "batches.meta").unlink()
    with pytest.raises(DataError) as info:
        load_dataset(f"cifar10:{root}", resolution=None, device=CPU)
    assert str(info.value).startswith(f"cifar10 path '{root}': expected {root}/cifar-10-batches-py/")
    assert str(info.value).endswith("; missing data_batch_3, batches.meta")

    fake = _fake_cifar(tmp_path / "fake")
    with pytest.raises(DataError) as info:
        load_dataset(f"cifar10:{fake}", resolution=None, device=CPU)
    assert str(info.value).startswith(f"cifar10 path '{fake}': expected {fake}/cifar-10-batches-py/")
    assert str(info.value).endswith(f"; {files} fail torchvision's checksum of the published files")


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


def _saved(image: Image.Image, path, **options):
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, **options)
    return path


def test_folder_reads_what_cameras_editors_and_other_systems_write(tmp_path):
    """Every image mode as a viewer shows it, any extension's case, subfolders; the files that
    macOS, Windows and Jupyter leave beside images are no class and no image; Pillow stays quiet."""
    root = tmp_path / "imgs"
    rng = np.random.default_rng(0)
    for name in ("bird with space", "cat", "ünïcode"):
        folder = root / name
        _saved(Image.fromarray(rng.integers(0, 256, (14, 20, 3), dtype=np.uint8)), folder / "a.JPG")
        _saved(Image.new("L", (9, 30), 90), folder / "b.PNG")
        _saved(Image.new("RGBA", (12, 12), (10, 20, 30, 0)), folder / "c.png")
        palette = Image.new("P", (8, 8))  # transparency as bytes: convert() warns, unless told first
        _saved(palette, folder / "d.png", transparency=bytes([0, 128] + [255] * 254))
        _saved(Image.new("RGB", (5, 5)), folder / "deeper" / "e.jpeg")
        (folder / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
        (folder / "._a.JPG").write_bytes(b"\0\5\26\7\0\2\0\0Mac OS X")  # macOS's copy of a.JPG's metadata
        (folder / "README.txt").write_text("notes")
        (folder / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0")
    (root / ".ipynb_checkpoints").mkdir()
    (root / "__MACOSX" / "cat").mkdir(parents=True)
    (root / "__MACOSX" / "cat" / "._a.JPG").write_bytes(b"\0\5\26\7")
    with warnings.catch_warnings(action="error"):
        data = load_dataset(f"folder:{root}", resolution=8, device=CPU, val_fraction=0.4)
    assert data.classes == ("bird with space", "cat", "ünïcode") and data.in_channels == 3
    assert data.train_x.shape == (9, 3, 8, 8) and torch.bincount(data.val_y).tolist() == [2, 2, 2]
    assert torch.isfinite(data.train_x).all()

    upright = np.zeros((2, 4, 3), dtype=np.uint8)
    upright[:, :2] = 255  # a white left half; the camera says: turn 90° clockwise to view
    exif = Image.Exif()
    exif[0x0112] = 6
    pixels = _read_image(str(_saved(Image.fromarray(upright), tmp_path / "phone.jpg", exif=exif)), 4)
    assert (pixels[0, :2] > 200).all() and (pixels[0, 2:] < 50).all()  # white on top


@pytest.mark.parametrize("pixels, suffix", [
    (np.arange(8, dtype=np.uint16) * 585, "png"),  # a 12-bit camera's 0..4095 in a 16-bit file ("I;16")
    (np.arange(8, dtype=np.int32) * 100_000 - 300_000, "tif"),  # 32-bit integers, below 0 too ("I")
    (np.linspace(0, 1, 8, dtype=np.float32), "tif"),  # 32-bit floats in 0..1 ("F")
    (np.linspace(-2.5, 40, 8, dtype=np.float32), "tif"),  # a depth map in metres, say
], ids=["12-bit", "int32", "float-0-1", "float-metres"])
def test_deep_and_float_grayscale_spans_black_to_white(tmp_path, pixels, suffix):
    """convert() clips what is not 8-bit at 255 (a float image in 0..1 came out black); each is
    stretched from its darkest to its brightest value, and NaN, where there is no value, is black."""
    gradient = np.tile(pixels, (2, 1))
    if pixels.dtype == np.float32:
        gradient[1, 3] = np.nan
    image = Image.fromarray(gradient)
    assert image.mode != "L"
    read = _read_image(str(_saved(image, tmp_path / f"deep.{suffix}")), 8)
    assert torch.equal(read[0], read[2])
    row = read[0, 0].tolist()  # 8 wide stays 8 wide: what was read, not blurred
    assert row == [round(i * 255 / 7) for i in range(8)]
    assert read[0, -1, 3].item() == (0 if pixels.dtype == np.float32 else row[3])


def test_links_to_folders_are_followed_and_each_folder_read_once(tmp_path):
    """A link to a folder above it (a loop) is read no more; two links to one folder read it once."""
    root = _image_folder(tmp_path / "imgs", per_class=2, size=(4, 4))
    (root / "cat" / "loop").symlink_to(root / "cat", target_is_directory=True)
    elsewhere = _image_folder(tmp_path / "elsewhere", classes=("puppies",), per_class=1, size=(4, 4)) / "puppies"
    (root / "dog" / "linked").symlink_to(elsewhere, target_is_directory=True)
    (root / "dog" / "linked again").symlink_to(elsewhere, target_is_directory=True)
    files, labels, classes = _data._folder(root)
    assert files == [str(root / "cat" / "0.png"), str(root / "cat" / "1.png"), str(root / "dog" / "0.png"),
                     str(root / "dog" / "1.png"), str(root / "dog" / "linked" / "0.png")]
    assert labels.tolist() == [0, 0, 1, 1, 1] and classes == ["cat", "dog"]


def test_an_image_that_cannot_be_read_is_named(tmp_path):
    root = _image_folder(tmp_path / "imgs", per_class=2)
    header = bytearray((root / "cat" / "0.png").read_bytes())
    bomb = root / "dog" / "huge.bmp"  # a damaged header can claim any size: Pillow refuses
    Image.new("RGB", (4, 4)).save(bomb)
    header = bytearray(bomb.read_bytes())
    header[18:26] = (100_000).to_bytes(4, "little") * 2
    bomb.write_bytes(bytes(header))
    with pytest.raises(DataError, match=re.escape(f"folder path '{root}': cannot read image '{bomb}' (Image size")):
        load_dataset(f"folder:{root}", resolution=None, device=CPU)


def test_many_classes_of_few_images_hold_one_of_each_out(tmp_path):
    root = _image_folder(tmp_path / "imgs", classes=[f"c{i:02d}" for i in range(12)], per_class=3, size=(4, 4))
    data = load_dataset(f"folder:{root}", resolution=None, device=CPU, seed=1)
    # a fifth would be 8 images for 12 classes
    assert torch.bincount(data.val_y).tolist() == [1] * 12 and torch.bincount(data.train_y).tolist() == [2] * 12
    again = load_dataset(f"folder:{root}", resolution=None, device=CPU, seed=1)
    other = load_dataset(f"folder:{root}", resolution=None, device=CPU, seed=2)
    assert torch.equal(data.val_x, again.val_x) and not torch.equal(data.val_x, other.val_x)


def test_a_class_of_one_image_is_named(tmp_path):
    root = _image_folder(tmp_path / "imgs", classes=("cat", "dog", "eel"), per_class=4)
    for extra in (1, 2, 3):
        (root / "eel" / f"{extra}.png").unlink()
    with pytest.raises(DataError) as info:
        load_dataset(f"folder:{root}", resolution=None, device=CPU)
    assert str(info.value) == (f"dataset 'folder:{root}': class 'eel' (1 example) has fewer than 2 examples; every "
                               "class needs 2 or more, to train on and to validate on")


def test_a_limit_keeps_each_class_share_and_reads_only_what_it_keeps(tmp_path, monkeypatch):
    near = load_dataset("digits", resolution=None, device=CPU, limit=1790)  # the 7 left out hold no 10 classes
    assert len(near.train_y) + len(near.val_y) == 1790 and set(near.val_y.tolist()) == set(range(10))
    with pytest.raises(DataError) as info:
        load_dataset("digits", resolution=None, device=CPU, limit=15)
    assert str(info.value) == ("dataset 'digits': a limit of 15 examples leaves fewer than 2 of each of the 10 "
                               "classes, one to train on and one to validate on: expected a limit of 20 or more")

    root = _image_folder(tmp_path / "imgs", per_class=10, size=(4, 4))
    read = []
    monkeypatch.setattr(_data, "_read_image", lambda file, size: read.append(file) or torch.zeros(3, size, size))
    data = load_dataset(f"folder:{root}", resolution=None, device=CPU, limit=6)
    assert len(read) == 6 and torch.bincount(data.train_y).tolist() == [2, 2]


def test_a_terminal_sees_the_folder_being_read(tmp_path):
    root = _image_folder(tmp_path / "imgs", per_class=2, size=(4, 4))
    terminal, log = Console(file=io.StringIO(), force_terminal=True, width=500), Console(file=io.StringIO())
    for console in (terminal, log):
        load_dataset(f"folder:{root}", resolution=None, device=CPU, val_fraction=0.5, console=console)
    assert f"reading 4 images from {root}" in terminal.file.getvalue() and log.file.getvalue() == ""


def test_cifar10_archive_not_extracted(tmp_path):
    archive = tmp_path / "cifar-10-python.tar.gz"
    archive.write_bytes(b"\x1f\x8b")
    for given in (tmp_path, archive):
        with pytest.raises(DataError) as info:
            load_dataset(f"cifar10:{given}", resolution=None, device=CPU)
        assert str(info.value).endswith(f"; extract the archive first: tar -xzf {archive} -C {tmp_path}")


def test_cifar10_limit_takes_both_batches_shares(tmp_path, monkeypatch):
    monkeypatch.setattr("torchvision.datasets.cifar.check_integrity", lambda *args, **kwargs: True)
    root = _fake_cifar(tmp_path / "cifar", per_batch=10, test=10)
    data = load_dataset(f"cifar10:{root}", resolution=None, device=CPU, limit=20)
    assert sorted(data.train_y.tolist()) == list(range(10)) and sorted(data.val_y.tolist()) == list(range(10))


def test_a_network_with_fewer_outputs_than_classes_is_refused(tmp_path, write_spec, latency_cache):
    spec = write_spec("input: [3, 16, 16]\nvars: {width: 8}\nnetwork:\n  - conv: {out: width, kernel: 3}\n"
                      "  - adaptive_avgpool: {}\n  - flatten: {}\n  - linear: {out: 2}\n")
    space = write_spec(f"base: {spec.name}\nvars: {{width: {{choices: [4, 8]}}}}\n", "space.yaml")
    root = _image_folder(tmp_path / "imgs", classes=("a", "b", "c"), per_class=5, size=(4, 4))
    with pytest.raises(StudyError) as info:
        nasblocks.search("s", root=tmp_path / "studies", space=str(space), budget="1MFLOPs", trials=1,
                         epochs=1, resolution=16, data=f"folder:{root}", device="cpu")
    assert str(info.value) == (f"search(data='folder:{root}'): 3 classes, but the networks of space 'space' have 2 "
                               "outputs; give its base spec a num_classes var for its classifier's out, which a "
                               "search sets to the data's classes")
