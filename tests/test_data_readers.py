"""Image readers: round trips on tiny generated IDX / PNG / CSV / .npz data, and bad input that must fail
with a DataError naming the file (and line)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ptft.data.builtin import BUILTIN_NAMES, DEBIAN_FASHION_MNIST_DIR, FASHION_MNIST_LABELS
from ptft.data.images import READERS, read_images
from ptft.errors import DataError
from tests.conftest import write_idx, write_png

RNG = np.random.default_rng(0)


def gray(height: int = 6, width: int = 5) -> np.ndarray:
    return RNG.integers(0, 256, (height, width), dtype=np.uint8)


# ---- IDX ----


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_round_trip_attaches_labels_beside_it(tmp_path: Path, suffix: str) -> None:
    pixels = RNG.integers(0, 256, (7, 4, 3), dtype=np.uint8)
    labels = np.array([0, 1, 2, 3, 9, 5, 0], dtype=np.uint8)
    images_path = write_idx(tmp_path / f"train-images-idx3-ubyte{suffix}", pixels)
    write_idx(tmp_path / f"train-labels-idx1-ubyte{suffix}", labels)
    image_set = read_images(str(images_path))
    assert image_set.images.shape == (7, 1, 4, 3) and image_set.images.dtype == np.uint8
    np.testing.assert_array_equal(image_set.images[:, 0], pixels)
    assert image_set.labels is not None and image_set.labels.dtype == np.int64
    np.testing.assert_array_equal(image_set.labels, labels)
    assert image_set.label_names == [str(k) for k in range(10)]
    assert image_set.ids[0].endswith(f"train-images-idx3-ubyte{suffix}#0")


def test_idx_labels_gz_beside_plain_images_and_given_names(tmp_path: Path) -> None:
    images_path = write_idx(tmp_path / "t10k-images-idx3-ubyte", gray(3, 2)[None].repeat(2, axis=0))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.array([1, 0], dtype=np.uint8))
    image_set = READERS.get("idx")(images_path, label_names=["cat", "dog"])
    assert image_set.label_names == ["cat", "dog"] and image_set.labels is not None
    assert image_set.labels.tolist() == [1, 0]


def test_idx_without_labels_file_is_unlabeled(tmp_path: Path) -> None:
    images_path = write_idx(tmp_path / "unlabeled-images-idx3-ubyte.gz", gray()[None])
    image_set = read_images(str(images_path))
    assert image_set.labels is None and not image_set.has_labels and len(image_set) == 1


def test_idx_truncated_names_file_and_byte_counts(tmp_path: Path) -> None:
    path = write_idx(tmp_path / "train-images-idx3-ubyte", RNG.integers(0, 256, (5, 4, 4), dtype=np.uint8))
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(DataError) as caught:
        read_images(str(path))
    message = str(caught.value)
    assert str(path) in message and "truncated" in message
    assert str(4 + 12 + 80) in message and str(4 + 12 + 70) in message  # expected vs actual bytes


def test_idx_truncated_gzip_names_file(tmp_path: Path) -> None:
    pixels = RNG.integers(0, 256, (50, 8, 8), dtype=np.uint8)
    path = write_idx(tmp_path / "train-images-idx3-ubyte.gz", pixels)
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz"):
        read_images(str(path))


def test_idx_bad_magic_and_labels_count_mismatch(tmp_path: Path) -> None:
    bad = tmp_path / "bad-images-idx3-ubyte"
    bad.write_bytes(b"\x89PNG" + bytes(20))
    with pytest.raises(DataError, match="not an IDX file"):
        read_images(str(bad))
    images_path = write_idx(tmp_path / "a-images-idx3-ubyte", gray()[None].repeat(3, axis=0))
    labels_path = write_idx(tmp_path / "a-labels-idx1-ubyte", np.array([0, 1], dtype=np.uint8))
    with pytest.raises(DataError, match=f"{labels_path}: 2 labels for the 3 images"):
        read_images(str(images_path))


# ---- folder of images ----


def test_folder_with_class_sub_folders(tmp_path: Path) -> None:
    pixels = {"dog": [gray(), gray()], "cat": [gray()]}
    for name, images in pixels.items():
        for i, image in enumerate(images):
            write_png(tmp_path / "data" / name / f"{i}.png", image)
    image_set = read_images(str(tmp_path / "data"))
    assert image_set.images.shape == (3, 1, 6, 5)
    assert image_set.label_names == ["cat", "dog"]  # sorted sub-folder names
    assert image_set.labels is not None and image_set.labels.tolist() == [0, 1, 1]
    np.testing.assert_array_equal(image_set.images[0, 0], pixels["cat"][0])  # PNG is lossless
    np.testing.assert_array_equal(image_set.images[2, 0], pixels["dog"][1])
    assert image_set.ids[0].endswith("cat/0.png")


def test_flat_folder_is_unlabeled_and_jpeg_is_read(tmp_path: Path) -> None:
    write_png(tmp_path / "a.png", gray())
    Image.fromarray(gray()).save(tmp_path / "b.JPEG")
    (tmp_path / "notes.txt").write_text("not an image")
    image_set = read_images(str(tmp_path))
    assert image_set.labels is None and image_set.images.shape == (2, 1, 6, 5)


def test_folder_mixed_gray_and_rgb_becomes_rgb(tmp_path: Path) -> None:
    gray_pixels = gray()
    rgb_pixels = RNG.integers(0, 256, (6, 5, 3), dtype=np.uint8)
    write_png(tmp_path / "a.png", gray_pixels)
    write_png(tmp_path / "b.png", rgb_pixels)
    image_set = read_images(str(tmp_path))
    assert image_set.images.shape == (2, 3, 6, 5)
    for channel in range(3):  # the gray image is repeated into each channel
        np.testing.assert_array_equal(image_set.images[0, channel], gray_pixels)
    np.testing.assert_array_equal(image_set.images[1], rgb_pixels.transpose(2, 0, 1))


def test_folder_wrong_size_names_file_sizes_and_fix(tmp_path: Path) -> None:
    write_png(tmp_path / "a.png", gray(6, 5))
    write_png(tmp_path / "b.png", gray(7, 9))
    with pytest.raises(DataError) as caught:
        read_images(str(tmp_path))
    message = str(caught.value)
    assert str(tmp_path / "b.png") in message and "7x9" in message and "6x5" in message
    assert "image size" in message
    resized = read_images(str(tmp_path), size=(4, 4))
    assert resized.images.shape == (2, 1, 4, 4)


def test_folder_corrupt_image_names_file(tmp_path: Path) -> None:
    write_png(tmp_path / "good.png", gray())
    (tmp_path / "garbage.png").write_bytes(b"this is not a png at all")
    with pytest.raises(DataError, match="garbage.png"):
        read_images(str(tmp_path))


def test_folder_truncated_image_names_file(tmp_path: Path) -> None:
    path = write_png(tmp_path / "cut.png", RNG.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(DataError, match="cut.png.*corrupt or truncated"):
        read_images(str(tmp_path))


def test_empty_folder_says_what_it_looked_for(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("no images here")
    with pytest.raises(DataError) as caught:
        read_images(str(tmp_path))
    assert str(tmp_path) in str(caught.value) and ".png/.jpg/.jpeg" in str(caught.value)


def test_folder_sub_folder_not_among_given_labels(tmp_path: Path) -> None:
    write_png(tmp_path / "catt" / "0.png", gray())
    with pytest.raises(DataError, match="'catt'.*did you mean 'cat'"):
        read_images(str(tmp_path), label_names=["cat", "dog"])


# ---- CSV of path,label ----


def write_csv(path: Path, rows: list[str]) -> Path:
    path.write_text("\n".join(["path,label", *rows]) + "\n")
    return path


def test_csv_round_trip_relative_paths_and_unlabeled_rows(tmp_path: Path) -> None:
    for name in ("a", "b", "c"):
        write_png(tmp_path / "images" / f"{name}.png", gray())
    csv_path = write_csv(tmp_path / "labels.csv", ["images/a.png,dog", "images/b.png,", "images/c.png,cat"])
    image_set = read_images(str(csv_path))
    assert image_set.images.shape == (3, 1, 6, 5)
    assert image_set.label_names == ["cat", "dog"]
    assert image_set.labels is not None and image_set.labels.tolist() == [1, -1, 0]


def test_csv_numeric_labels_sort_numerically(tmp_path: Path) -> None:
    for name in ("a", "b"):
        write_png(tmp_path / f"{name}.png", gray())
    csv_path = write_csv(tmp_path / "labels.csv", ["a.png,10", "b.png,2"])
    assert read_images(str(csv_path)).label_names == ["2", "10"]


def test_csv_unknown_label_names_file_line_and_near_match(tmp_path: Path) -> None:
    for name in ("a", "b"):
        write_png(tmp_path / f"{name}.png", gray())
    csv_path = write_csv(tmp_path / "labels.csv", ["a.png,cat", "b.png,catt"])
    with pytest.raises(DataError) as caught:
        read_images(str(csv_path), label_names=["cat", "dog"])
    message = str(caught.value)
    assert f"{csv_path} line 3" in message and "'catt'" in message
    assert "cat, dog" in message and "did you mean 'cat'" in message


def test_csv_missing_image_names_file_and_line(tmp_path: Path) -> None:
    write_png(tmp_path / "a.png", gray())
    csv_path = write_csv(tmp_path / "labels.csv", ["a.png,cat", "gone.png,dog"])
    with pytest.raises(DataError, match=f"{csv_path} line 3: image 'gone.png' not found"):
        read_images(str(csv_path))


def test_csv_wrong_header_names_file(tmp_path: Path) -> None:
    csv_path = tmp_path / "labels.csv"
    csv_path.write_text("file,class\na.png,cat\n")
    with pytest.raises(DataError, match=f"{csv_path} line 1: expected the header 'path,label'"):
        read_images(str(csv_path))


# ---- .npz ----


def test_npz_channels_last_float_in_unit_range(tmp_path: Path) -> None:
    pixels = RNG.integers(0, 256, (4, 6, 5, 3), dtype=np.uint8)
    path = tmp_path / "set.npz"
    np.savez(path, x=pixels / 255.0, y=np.array([0, 2, 1, -1]), label_names=np.array(["a", "b", "c"]))
    image_set = read_images(str(path))
    assert image_set.images.shape == (4, 3, 6, 5)
    np.testing.assert_array_equal(image_set.images, pixels.transpose(0, 3, 1, 2))
    assert image_set.labels is not None and image_set.labels.tolist() == [0, 2, 1, -1]
    assert image_set.label_names == ["a", "b", "c"]


@pytest.mark.parametrize("shape", [(3, 6, 5), (3, 1, 6, 5)])
def test_npz_gray_layouts_without_labels(tmp_path: Path, shape: tuple[int, ...]) -> None:
    pixels = RNG.integers(0, 256, shape, dtype=np.uint8)
    path = tmp_path / "set.npz"
    np.savez(path, images=pixels)
    image_set = read_images(str(path))
    assert image_set.images.shape == (3, 1, 6, 5) and image_set.labels is None
    np.testing.assert_array_equal(image_set.images.reshape(shape), pixels)


def test_npz_float_in_0_255_and_default_label_names(tmp_path: Path) -> None:
    path = tmp_path / "set.npz"
    np.savez(path, images=np.full((2, 4, 4), 200.0), labels=np.array([0, 2]))
    image_set = read_images(str(path))
    assert int(image_set.images.max()) == 200 and image_set.label_names == ["0", "1", "2"]


def test_npz_object_array_is_refused_not_unpickled(tmp_path: Path) -> None:
    path = tmp_path / "evil.npz"
    images = np.empty(2, dtype=object)
    images[:] = [np.zeros((4, 4)), np.zeros((4, 4))]
    np.savez(path, images=images)
    with pytest.raises(DataError) as caught:
        read_images(str(path))
    assert str(path) in str(caught.value) and "pickle" in str(caught.value)


def test_npz_without_images_and_out_of_range_pixels(tmp_path: Path) -> None:
    path = tmp_path / "set.npz"
    np.savez(path, pictures=np.zeros((2, 4, 4), dtype=np.uint8))
    with pytest.raises(DataError, match=f"{path}: no 'images'"):
        read_images(str(path))
    too_bright = np.zeros((2, 4, 4))
    too_bright[1, 2, 3] = 300.0
    np.savez(path, images=too_bright)
    with pytest.raises(DataError, match=r"\[0, 300\]"):
        read_images(str(path))


# ---- dispatch and built-ins ----


def test_missing_path_lists_accepted_forms_and_builtins(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(DataError) as caught:
        read_images(str(missing))
    message = str(caught.value)
    assert f"{missing} does not exist" in message and ".npz" in message
    assert all(name in message for name in BUILTIN_NAMES)


def test_unknown_extension_lists_accepted_ones(tmp_path: Path) -> None:
    path = tmp_path / "images.parquet"
    path.write_bytes(b"PAR1")
    with pytest.raises(DataError, match=r"images.parquet.*'\.parquet'.*\.csv"):
        read_images(str(path))


def test_fashion_mnist_missing_says_where_and_how(tmp_path: Path) -> None:
    with pytest.raises(DataError) as caught:
        read_images("fashion-mnist", data_dir=str(tmp_path))
    message = str(caught.value)
    assert str(tmp_path) in message and "apt-get install dataset-fashion-mnist" in message
    assert "--data-dir" in message


def test_fashion_mnist_from_data_dir_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", RNG.integers(0, 256, (3, 28, 28), dtype=np.uint8))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.array([9, 0, 4], dtype=np.uint8))
    monkeypatch.setenv("PTFT_DATA_DIR", str(tmp_path))
    image_set = read_images("fashion-mnist:test")
    assert image_set.label_names == FASHION_MNIST_LABELS and image_set.labels is not None
    assert image_set.labels.tolist() == [9, 0, 4]


@pytest.mark.skipif(
    not (DEBIAN_FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").is_file(),
    reason="Debian package dataset-fashion-mnist not installed",
)
def test_fashion_mnist_builtin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PTFT_DATA_DIR", raising=False)
    train = read_images("fashion-mnist")
    assert train.images.shape == (60000, 1, 28, 28) and train.images.dtype == np.uint8
    assert train.labels is not None and sorted(set(train.labels.tolist())) == list(range(10))
    assert train.label_names == FASHION_MNIST_LABELS
    test = read_images("fashion-mnist:test")
    assert test.images.shape == (10000, 1, 28, 28)


def test_digits_builtin() -> None:
    digits = read_images("digits")
    assert digits.images.shape == (1797, 1, 8, 8) and int(digits.images.max()) == 255
    assert digits.labels is not None and sorted(set(digits.labels.tolist())) == list(range(10))
