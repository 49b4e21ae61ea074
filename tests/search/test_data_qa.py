"""Bringing your own data, as a user gets it wrong: damaged images that Pillow's parsers refuse with
other errors than OSError, a file where the folder should be, images not sorted into classes."""

import re

import numpy as np
import pytest
import torch
from PIL import Image

from nasblocks._data import load_dataset
from nasblocks.errors import DataError

CPU = torch.device("cpu")
LAYOUT = "expected root/<class>/<image>.png (one subfolder per class)"


def _classes(root, suffix=".png"):
    rng = np.random.default_rng(0)
    for name in ("cat", "dog"):
        (root / name).mkdir(parents=True)
        for i in range(2):  # noise: a PNG's pixel data that compresses to nothing readable
            Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(root / name / f"{i}{suffix}")
    return root


def _broken_png_chunk(path):
    """A PNG whose pixel data's length is short, so the next chunk is read from inside that data,
    its type not four letters: Pillow raises SyntaxError."""
    data = bytearray(path.read_bytes())
    length = int.from_bytes(data[33:37], "big")  # 8 bytes of signature and IHDR's 25, then IDAT's length
    data[33:37] = (length - 144).to_bytes(4, "big")
    path.write_bytes(bytes(data))


def _broken_ppm_header(path):
    """A PPM whose height is not a number: Pillow raises ValueError."""
    path.write_bytes(b"P6\n6 5\xb7255\n" + bytes(90))


@pytest.mark.parametrize("suffix, damage", [(".png", _broken_png_chunk), (".ppm", _broken_ppm_header)])
def test_a_damaged_image_is_named_whatever_pillow_raises(tmp_path, suffix, damage):
    root = _classes(tmp_path / "imgs", suffix)
    damaged = root / "dog" / f"1{suffix}"
    damage(damaged)
    with pytest.raises(DataError, match=re.escape(f"folder path '{root}': cannot read image '{damaged}' (")):
        load_dataset(f"folder:{root}", resolution=8, device=CPU)


@pytest.mark.parametrize("kind", ["folder", "cifar10"])
def test_a_file_where_the_folder_should_be_is_called_a_file(tmp_path, kind):
    archive = tmp_path / "flowers.zip"
    archive.write_bytes(b"PK\x03\x04")
    with pytest.raises(DataError) as info:
        load_dataset(f"{kind}:{archive}", resolution=None, device=CPU)
    assert str(info.value).startswith(f"{kind} path '{archive}' is a file, not a folder; expected ")


def test_images_not_sorted_into_class_folders_are_counted(tmp_path):
    flat = tmp_path / "photos"
    flat.mkdir()
    for name in ("a.jpg", "b.png", "._a.jpg", "notes.txt"):  # macOS's copy and a text file are no images
        (flat / name).write_bytes(b"")
    with pytest.raises(DataError) as info:
        load_dataset(f"folder:{flat}", resolution=None, device=CPU)
    assert str(info.value) == (f"folder path '{flat}' has no class subfolders (it holds 2 images itself: put each "
                               f"class's in a subfolder named after it); {LAYOUT}")


def test_data_that_outgrow_the_memory_are_refused_before_a_byte_is_made(tmp_path, monkeypatch):
    monkeypatch.setattr("nasblocks._memory._cgroup_limits", lambda: iter([100_000]))  # a container of 100 kB
    with pytest.raises(DataError) as info:
        load_dataset("digits", resolution=16, device=CPU, limit=40)  # 40 x 3 x 16 x 16 float32: 122,880 bytes
    assert str(info.value) == ("dataset 'digits': 40 images at 16×16 take 122.9 kB as float32, more than the memory "
                               "its control group may use (100.0 kB); lower the resolution, or limit the images")
    root = _classes(tmp_path / "imgs")
    monkeypatch.setattr("nasblocks._data._read_image", lambda *args: pytest.fail("an image was read"))
    with pytest.raises(DataError, match=re.escape(f"dataset 'folder:{root}': 4 images at 100×100 take 480.0 kB")):
        load_dataset(f"folder:{root}", resolution=100, device=CPU)
    assert load_dataset("digits", resolution=None, device=CPU, limit=40).resolution == 8  # 30,720 bytes fit


@pytest.mark.parametrize("host, gpu, where", [
    (100_000, 10**12, "the memory its control group may use (100.0 kB)"),  # made on the host first
    (10**12, 100_000, "the free memory of cuda (100.0 kB)"),
])
def test_data_for_a_gpu_must_fit_the_host_and_the_gpu(monkeypatch, host, gpu, where):
    monkeypatch.setattr("nasblocks._memory._cgroup_limits", lambda: iter([host]))
    monkeypatch.setattr("torch.cuda.mem_get_info", lambda device: (gpu, gpu))
    with pytest.raises(DataError) as info:
        load_dataset("digits", resolution=16, device=torch.device("cuda"), limit=40)
    assert str(info.value).endswith(f"take 122.9 kB as float32, more than {where}; lower the resolution, or limit "
                                    "the images")
