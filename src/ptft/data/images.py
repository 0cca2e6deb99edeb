"""Image readers: IDX files (MNIST layout), folders of PNG/JPEG, `path,label` CSV files and .npz arrays.

Each reader is registered by name in READERS and turns a path into an ImageSet (uint8 (N, C, H, W)).
`read_images` picks the reader from what the user typed: a built-in name, a folder or a file. With
`skip_bad=N` up to N unreadable PNG/JPEG files (truncated, empty, not an image) are left out and counted
in the set's `skipped` and `skipped_at`; any other problem (a wrong size, a bad label) stays an error.
"""

from __future__ import annotations

import csv
import dataclasses
import difflib
import gzip
import math
import zipfile
import zlib
from pathlib import Path
from typing import Protocol

import numpy as np
from PIL import Image

from ptft.config import skip_budget
from ptft.data.types import ImageSet, ReadStats
from ptft.errors import ConfigError, DataError
from ptft.registry import Registry

Size = tuple[int, int]  # (H, W)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
GRAY_MODES = ("1", "L", "LA", "I", "I;16", "F")
# IDX header: two zero bytes, a dtype code, the number of dims, then one big-endian uint32 per dim.
IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
ACCEPTED_FORMS = (
    "a folder of .png/.jpg/.jpeg images (one sub-folder per class), a .csv with columns path,label, "
    "a .npz with an 'images' array, or an IDX file (*-images-idx3-ubyte[.gz])"
)
SIZE_FIX = "pass an image size (size=(H, W), the image-size option) to resize every image to it"
UNREADABLE_FIX = "it is corrupt or truncated — replace or remove it"


class Reader(Protocol):
    """An ImageSet from `path`; unreadable image files go to `stats.skip` (None: the first one is an error)."""

    def __call__(
        self,
        path: Path,
        size: Size | None = None,
        label_names: list[str] | None = None,
        stats: ReadStats | None = None,
    ) -> ImageSet: ...


READERS = Registry[Reader]("image reader")


def read_images(
    spec: str,
    data_dir: str = "",
    size: Size | None = None,
    label_names: list[str] | None = None,
    skip_bad: int = 0,
) -> ImageSet:
    """Read a built-in dataset by name, or the folder / .csv / .npz / IDX file at path `spec`.

    A built-in name wins over a same-named folder; write `./fashion-mnist` to mean the folder. Up to
    `skip_bad` unreadable image files are skipped and counted (`skipped`, `skipped_at` of the set).
    """
    skip_bad = skip_budget(skip_bad)
    # Imported here, not at the top: builtin imports read_idx from this module.
    from ptft.data.builtin import BUILTIN_NAMES, load_builtin

    if size is not None and (len(size) != 2 or min(size) < 1):
        raise ConfigError(f"image size must be two positive integers (H, W), got {size}")
    if spec in BUILTIN_NAMES:
        image_set = load_builtin(spec, data_dir)
        if label_names is not None and label_names != image_set.label_names:
            raise DataError(
                f"{spec}: its labels are {image_set.label_names}, not the {label_names} given; "
                "a built-in dataset keeps its own label names"
            )
        return resize_set(image_set, size)
    path = Path(spec).expanduser()
    if not path.exists():
        raise DataError(
            f"{spec} does not exist; give {ACCEPTED_FORMS}, or a built-in dataset: {', '.join(BUILTIN_NAMES)}"
        )
    stats = ReadStats(limit=skip_bad)
    image_set = READERS.get(_reader_name(path))(path, size=size, label_names=label_names, stats=stats)
    image_set.skipped, image_set.skipped_at = stats.skipped, list(stats.skipped_at)
    return image_set


def _reader_name(path: Path) -> str:
    if path.is_dir():
        return "folder"
    suffix = path.suffix.lower()
    if suffix in (".csv", ".npz"):
        return suffix[1:]
    if "idx" in path.name.lower():
        return "idx"
    raise DataError(f"{path}: cannot tell how to read a '{suffix}' file; accepted: {ACCEPTED_FORMS}")


def resize_set(image_set: ImageSet, size: Size | None) -> ImageSet:
    """`image_set` with every image resized (bilinear) to size = (H, W); itself if size is None or equal."""
    if size is None or image_set.shape[1:] == tuple(size):
        return image_set
    resized = np.stack([_resize_array(image, size) for image in image_set.images])
    return dataclasses.replace(image_set, images=resized)


def _resize_array(image: np.ndarray, size: Size) -> np.ndarray:
    """One uint8 (C, H, W) image resized to (C, *size), plane by plane."""
    planes = [Image.fromarray(plane).resize((size[1], size[0]), Image.Resampling.BILINEAR) for plane in image]
    return np.stack([np.asarray(plane, dtype=np.uint8) for plane in planes])


# ---- labels shared by the readers ----


def _label_index(label: str, names: list[str], where: str) -> int:
    """Position of `label` in `names`; else a DataError naming `where` (file, line) and a near match."""
    if label in names:
        return names.index(label)
    close = difflib.get_close_matches(label, names, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    raise DataError(f"{where}: label '{label}' is not among the {len(names)} known labels ({', '.join(names)}){hint}")


def _check_label_range(labels: np.ndarray, names: list[str], where: str) -> None:
    """A DataError naming the first record (0-based) whose label has no name in `names`."""
    beyond = np.flatnonzero(labels >= len(names))
    if len(beyond):
        first = int(beyond[0])
        raise DataError(
            f"{where}: record {first} has label {int(labels[first])}, which has no name; only {len(names)} label "
            f"names ({', '.join(names)}) — pass one name per class ({len(beyond)} records are out of range)"
        )


def _index_names(count: int) -> list[str]:
    return [str(k) for k in range(count)]


# ---- IDX (MNIST, Fashion-MNIST) ----


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped when it starts with the gzip magic number."""
    try:
        with path.open("rb") as file:
            gzipped = file.read(2) == b"\x1f\x8b"
        if gzipped:
            with gzip.open(path, "rb") as file:
                return file.read()
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as error:
        raise DataError(f"{path}: cannot read it ({error}); if it is a download, fetch it again") from error


def read_idx_array(path: Path) -> np.ndarray:
    """The array in one IDX file, checked against its header: magic number, dtype code, dims and length."""
    data = _read_bytes(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise DataError(f"{path}: not an IDX file (starts {data[:4].hex()!r}, expected 0000, dtype, dims)")
    code, ndim = data[2], data[3]
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02x}" for c in IDX_DTYPES)
        raise DataError(f"{path}: unknown IDX dtype code 0x{code:02x}; known codes: {known}")
    header = 4 + 4 * ndim
    if ndim == 0 or len(data) < header:
        raise DataError(f"{path}: IDX header says {ndim} dims, but the file holds only {len(data)} bytes")
    dims = tuple(int(d) for d in np.frombuffer(data, ">u4", count=ndim, offset=4))
    dtype = np.dtype(IDX_DTYPES[code])
    expected = header + math.prod(dims) * dtype.itemsize
    if len(data) != expected:
        raise DataError(
            f"{path}: header says shape {dims} of {dtype.name}, so {expected} bytes, but the data has "
            f"{len(data)} bytes; the file is truncated or damaged — fetch it again"
        )
    return np.frombuffer(data, dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def _idx_labels_path(images_path: Path) -> Path | None:
    """The `*-labels-idx1-ubyte[.gz]` file beside `*-images-idx3-ubyte[.gz]`, if there is one."""
    name = images_path.name.removesuffix(".gz")
    labels_name = name.replace("images", "labels").replace("idx3", "idx1")
    if labels_name == name:
        return None
    for candidate in (labels_name + ".gz", labels_name):
        if (images_path.parent / candidate).is_file():
            return images_path.parent / candidate
    return None


def _read_idx_labels(path: Path, count: int) -> np.ndarray:
    labels = read_idx_array(path)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"{path}: expected integer labels of shape (N,), got {labels.dtype} {labels.shape}")
    if len(labels) != count:
        raise DataError(f"{path}: {len(labels)} labels for the {count} images of the matching images file")
    return labels.astype(np.int64)


@READERS.register("idx")
def read_idx(
    path: Path, size: Size | None = None, label_names: list[str] | None = None, stats: ReadStats | None = None
) -> ImageSet:
    """An IDX images file, uint8 (N, H, W), with labels from the matching labels file beside it if present.

    Label names are `label_names`, else "0".."9" (MNIST layout: ten classes). One array: nothing to skip.
    """
    pixels = read_idx_array(path)
    if pixels.ndim != 3 or pixels.dtype != np.uint8:
        raise DataError(
            f"{path}: expected uint8 images of shape (N, H, W), got {pixels.dtype} {pixels.shape}; "
            "give the *-images-idx3-ubyte file, not the labels file"
        )
    labels_path = _idx_labels_path(path)
    labels = None if labels_path is None else _read_idx_labels(labels_path, len(pixels))
    names = list(label_names) if label_names is not None else []
    if labels is not None:
        if label_names is None:
            names = _index_names(max(10, int(labels.max(initial=0)) + 1))
        _check_label_range(labels, names, str(labels_path))
    image_set = ImageSet(images=pixels[:, None], labels=labels, label_names=names, source=str(path))
    return resize_set(image_set, size)


# ---- PNG / JPEG files: a folder, or a path,label CSV ----


def _decode_image(file: Path, size: Size | None, stats: ReadStats) -> np.ndarray | None:
    """uint8 (H, W) if the file is grayscale, else (H, W, 3); resized to `size` when given. None when the
    file is unreadable and `stats` skips it (else its DataError names the file)."""
    try:
        with Image.open(file) as opened:
            opened.load()
            image = opened.convert("L" if opened.mode in GRAY_MODES else "RGB")
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        stats.skip(f"{file}: not a readable image ({error})", UNREADABLE_FIX)
        return None
    if size is not None and image.size != (size[1], size[0]):
        image = image.resize((size[1], size[0]), Image.Resampling.BILINEAR)
    return np.asarray(image, dtype=np.uint8)


def load_image_files(
    files: list[Path], size: Size | None = None, stats: ReadStats | None = None
) -> tuple[np.ndarray, list[int]]:
    """Decode and stack image files to uint8 (N, C, H, W): C = 1 if every image is gray, else 3 (RGB).

    -> (images, positions in `files` of the images read): unreadable files are left out while `stats`
    has skips to spare (None: none, the first unreadable file is an error).
    """
    stats = stats if stats is not None else ReadStats()
    arrays: list[np.ndarray] = []
    kept: list[int] = []
    for position, file in enumerate(files):
        array = _decode_image(file, size, stats)
        if array is None:
            continue
        if arrays and array.shape[:2] != arrays[0].shape[:2]:
            (height, width), (want_height, want_width) = array.shape[:2], arrays[0].shape[:2]
            raise DataError(
                f"{file}: image is {height}x{width} (HxW) but {files[kept[0]]} is {want_height}x{want_width}; "
                f"all images must have the same size — {SIZE_FIX}"
            )
        arrays.append(array)
        kept.append(position)
    if not arrays:
        raise DataError(
            f"{files[0].parent}: none of the {len(files)} images is readable ({stats.skipped} skipped as bad, "
            f"first: {stats.skipped_at[0]}); replace or remove them"
        )
    if all(array.ndim == 2 for array in arrays):
        return np.stack(arrays)[:, None], kept  # (N, 1, H, W)
    rgb = [np.repeat(array[..., None], 3, axis=2) if array.ndim == 2 else array for array in arrays]
    return np.ascontiguousarray(np.stack(rgb).transpose(0, 3, 1, 2)), kept  # (N, H, W, 3) -> (N, 3, H, W)


def _is_hidden(file: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in file.relative_to(root).parts)


@READERS.register("folder")
def read_folder(
    path: Path, size: Size | None = None, label_names: list[str] | None = None, stats: ReadStats | None = None
) -> ImageSet:
    """PNG/JPEG files under `path`: those in a sub-folder are labeled by its name (classes in sorted order
    unless `label_names` is given); those directly in `path` are unlabeled (-1). Unreadable files are
    left out while `stats` has skips to spare."""
    files = sorted(
        file
        for file in path.rglob("*")
        if file.suffix.lower() in IMAGE_SUFFIXES and file.is_file() and not _is_hidden(file, path)
    )
    if not files:
        raise DataError(
            f"{path}: no .png/.jpg/.jpeg images found in this folder or its sub-folders; put the images in it "
            "(one sub-folder per class), or .txt files for text"
        )
    classes = [file.relative_to(path).parts[0] if file.parent != path else None for file in files]
    found = sorted({name for name in classes if name is not None})
    names = list(label_names) if label_names is not None else found
    labels = None
    if found:
        index = {name: _label_index(name, names, f"{path / name} (sub-folder)") for name in found}
        labels = np.array([-1 if name is None else index[name] for name in classes], dtype=np.int64)
    images, kept = load_image_files(files, size, stats)
    labels = None if labels is None else labels[kept]
    return ImageSet(images, labels=labels, label_names=names, ids=[str(files[i]) for i in kept], source=str(path))


def _read_csv_rows(path: Path) -> list[tuple[int, str, str]]:
    """(line, image path, label) for each row after the `path,label` header; blank lines skipped."""
    rows: list[tuple[int, str, str]] = []
    try:
        with path.open(newline="", encoding="utf-8-sig") as file:
            reader = csv.reader(file)
            header = next(reader, None)
            if header is None or [cell.strip().lower() for cell in header] != ["path", "label"]:
                got = ",".join(header or [])
                raise DataError(f"{path} line 1: expected the header 'path,label', got {got!r}")
            for row in reader:
                if not row:
                    continue
                if len(row) != 2:
                    raise DataError(f"{path} line {reader.line_num}: expected 2 columns (path,label), got {row}")
                rows.append((reader.line_num, row[0].strip(), row[1].strip()))
    except (UnicodeDecodeError, csv.Error) as error:
        raise DataError(f"{path}: not a readable UTF-8 CSV ({error})") from error
    if not rows:
        raise DataError(f"{path}: no image rows after the 'path,label' header")
    return rows


def _sorted_labels(labels: set[str]) -> list[str]:
    """Label names in numeric order if all are integers ('2' before '10'), else alphabetical."""
    if all(label.isdigit() for label in labels):
        return sorted(labels, key=int)
    return sorted(labels)


@READERS.register("csv")
def read_csv(
    path: Path, size: Size | None = None, label_names: list[str] | None = None, stats: ReadStats | None = None
) -> ImageSet:
    """A CSV with header `path,label`: paths relative to the CSV's folder; an empty label = unlabeled.
    Unreadable image files are left out while `stats` has skips to spare; a missing one is an error."""
    rows = _read_csv_rows(path)
    files: list[Path] = []
    for line, name, _ in rows:
        file = path.parent / name
        if not name or not file.is_file():
            raise DataError(f"{path} line {line}: image '{name}' not found (looked for {file})")
        files.append(file)
    given = {label for _, _, label in rows if label}
    names = list(label_names) if label_names is not None else _sorted_labels(given)
    labels = None
    if given:
        labels = np.array(
            [_label_index(label, names, f"{path} line {line}") if label else -1 for line, _, label in rows],
            dtype=np.int64,
        )
    images, kept = load_image_files(files, size, stats)
    labels = None if labels is None else labels[kept]
    return ImageSet(images, labels=labels, label_names=names, ids=[str(files[i]) for i in kept], source=str(path))


# ---- .npz arrays ----


def _load_npz(path: Path, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The arrays among `keys` in the .npz at `path`, never unpickling anything."""
    try:
        archive = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as error:
        raise DataError(f"{path}: not a readable .npz archive ({error})") from error
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DataError(f"{path}: holds one unnamed array; save named ones: np.savez(path, images=...)")
    arrays: dict[str, np.ndarray] = {}
    with archive:
        for key in (key for key in keys if key in archive.files):
            try:
                arrays[key] = archive[key]
            except ValueError as error:  # numpy refuses object arrays when allow_pickle=False
                raise DataError(
                    f"{path}: array '{key}' is an object array, which needs pickle, and ptft never "
                    "loads pickled data; save plain numeric arrays: "
                    "np.savez(path, images=uint8_array, labels=int_array)"
                ) from error
            except (OSError, EOFError, zipfile.BadZipFile) as error:
                raise DataError(f"{path}: array '{key}' is unreadable ({error}); file damaged") from error
    return arrays


def _to_uint8(array: np.ndarray, where: str) -> np.ndarray:
    """Pixels as uint8: floats in [0, 1] are scaled by 255, other values in [0, 255] are rounded."""
    if array.dtype == np.uint8:
        return array
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise DataError(f"{where}: expected uint8 or float pixels, got dtype {array.dtype}")
    values = array.astype(np.float64)
    if not np.isfinite(values).all():
        raise DataError(f"{where}: pixels contain NaN or infinity")
    low, high = float(values.min()), float(values.max())
    if low < 0 or high > 255:
        raise DataError(f"{where}: pixel values span [{low:g}, {high:g}]; expected [0, 1] or [0, 255]")
    scale = 255.0 if np.issubdtype(array.dtype, np.floating) and high <= 1.0 else 1.0
    return np.rint(values * scale).astype(np.uint8)


def _to_uint8_nchw(array: np.ndarray, where: str) -> np.ndarray:
    """(N, H, W), (N, H, W, C) or (N, C, H, W) pixels with C in {1, 3} as uint8 (N, C, H, W)."""
    if array.ndim == 3:
        array = array[:, None]
    elif array.ndim == 4 and array.shape[1] not in (1, 3) and array.shape[3] in (1, 3):
        array = array.transpose(0, 3, 1, 2)
    elif array.ndim != 4 or array.shape[1] not in (1, 3):
        raise DataError(
            f"{where}: expected images of shape (N, H, W), (N, H, W, C) or (N, C, H, W) with C = 1 or 3, "
            f"got {array.shape}"
        )
    if len(array) == 0:
        raise DataError(f"{where}: holds no images")
    return np.ascontiguousarray(_to_uint8(array, where))


def _npz_labels(array: np.ndarray, count: int, where: str) -> np.ndarray:
    if array.shape != (count,):
        raise DataError(f"{where}: expected {count} labels, shape ({count},), got {array.shape}")
    if not np.issubdtype(array.dtype, np.integer):
        raise DataError(f"{where}: expected integer class indices (-1 = unlabeled), got dtype {array.dtype}")
    below = np.flatnonzero(array < -1)
    if len(below):
        first = int(below[0])
        raise DataError(
            f"{where}: record {first} has label {int(array[first])}, below -1 (-1 marks an unlabeled image); "
            "use class indices 0, 1, ... or -1"
        )
    return array.astype(np.int64)


@READERS.register("npz")
def read_npz(
    path: Path, size: Size | None = None, label_names: list[str] | None = None, stats: ReadStats | None = None
) -> ImageSet:
    """Arrays `images` (or `x`), optional `labels` (or `y`, -1 = unlabeled) and `label_names` from a .npz.

    Loaded with allow_pickle=False always: an object array is refused, never unpickled. Arrays: nothing to skip.
    """
    arrays = _load_npz(path, ("images", "x", "labels", "y", "label_names"))
    image_key = next((key for key in ("images", "x") if key in arrays), None)
    if image_key is None:
        raise DataError(f"{path}: no 'images' (or 'x') array; save np.savez(path, images=..., labels=...)")
    images = _to_uint8_nchw(arrays[image_key], f"{path} ['{image_key}']")
    label_key = next((key for key in ("labels", "y") if key in arrays), None)
    if label_key is None:
        return resize_set(ImageSet(images, label_names=list(label_names or []), source=str(path)), size)
    where = f"{path} ['{label_key}']"
    labels = _npz_labels(arrays[label_key], len(images), where)
    stored = [str(name) for name in arrays["label_names"].tolist()] if "label_names" in arrays else None
    if label_names is not None and stored is not None and list(label_names) != stored:
        raise DataError(f"{path}: its label_names {stored} differ from the {list(label_names)} given")
    names = list(label_names or stored or _index_names(int(labels.max()) + 1))
    _check_label_range(labels, names, where)
    return resize_set(ImageSet(images, labels=labels, label_names=names, source=str(path)), size)
