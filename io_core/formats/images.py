"""Raster images through Pillow: PNG, JPEG, TIFF, BMP, GIF.

Summaries read the header only (size, mode, frame count, format info). Loading decodes
the first frame (``key`` picks another frame of a multi-frame GIF/TIFF) into an array;
saving writes an (H, W), (H, W, 3) or (H, W, 4) array. Decoding is refused (TOO_LARGE)
past ``max_image_pixels`` from the header alone, and Pillow's own bomb guard is set from
the same limit.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from io_core.coerce import as_array
from io_core.errors import CorruptFileError, InvalidDataError, KeyNotFoundError, TooLargeError
from io_core.formats.base import Format
from io_core.limits import Limits, check_pixels
from io_core.options import ReadOptions, WriteOptions
from io_core.remote import is_remote, open_binary
from io_core.summary import encode_value
from schemas import ImageSummary


def pillow_guard(limits: Limits) -> None:
    """Pillow's own decompression-bomb check follows the limits (it refuses past twice the value)."""
    Image.MAX_IMAGE_PIXELS = limits.max_image_pixels


@contextmanager
def _opened(path: Path, key: str | None, limits: Limits, decode: bool = False) -> Iterator[Image.Image]:
    """The image (frame ``key``); with ``decode`` its pixel count is checked before anything is decoded."""
    pillow_guard(limits)
    try:
        with Image.open(open_binary(path) if is_remote(path) else path) as image:  # remote: by range
            if key not in (None, "", "0"):
                if not str(key).isdigit():
                    raise KeyNotFoundError(f"images are addressed by frame number, not {key!r}")
                try:
                    image.seek(int(key))
                except EOFError:
                    raise KeyNotFoundError(
                        f"frame {key} does not exist; the image has {getattr(image, 'n_frames', 1)}"
                    ) from None
            if decode:
                check_pixels(image.width, image.height, limits, path.name)
            yield image
    except Image.DecompressionBombError as exc:
        raise TooLargeError(f"{path.name!r} is too large to decode safely: {exc}") from None


def _visible(image: Image.Image) -> Image.Image:
    """Palette images as the colours they show (grey palettes as greyscale), not as indices."""
    if image.mode not in ("P", "PA"):
        return image
    if "transparency" in image.info or image.mode == "PA":
        return image.convert("RGBA")
    rgb = image.convert("RGB")
    colours = np.asarray(rgb)
    if (colours[..., 0] == colours[..., 1]).all() and (colours[..., 1] == colours[..., 2]).all():
        return image.convert("L")
    return rgb


def _check_complete(path: Path, image: Image.Image) -> None:
    """Refuse a truncated file from its structure, without decoding pixels."""
    size = path.stat().st_size
    fmt = image.format
    if fmt == "PNG":
        image.verify()  # walks the chunks and their CRCs
        return
    with open_binary(path) as fh:
        head = fh.read(6)
        fh.seek(max(0, size - 1024))
        tail = fh.read()
    complete = True
    if fmt == "JPEG":
        complete = b"\xff\xd9" in tail
    elif fmt == "GIF":
        complete = tail.rstrip(b"\x00").endswith(b";")
    elif fmt == "BMP":
        declared = int.from_bytes(head[2:6], "little")
        complete = declared == 0 or declared <= size
    elif fmt == "TIFF":
        tags = image.tag_v2
        offsets = tags.get(273) or tags.get(324) or ()
        counts = tags.get(279) or tags.get(325) or ()
        complete = all(o + c <= size for o, c in zip(offsets, counts, strict=False))
    if not complete:
        raise CorruptFileError(f"{path.name!r} is truncated: its {fmt} data ends before the file does")


class ImageFormat(Format):
    def __init__(self, pil_format: str) -> None:
        self.pil_format = pil_format

    def load(self, path: Path, opts: ReadOptions) -> np.ndarray:
        with _opened(path, opts.key, opts.limits, decode=True) as image:
            image.load()
            return np.asarray(_visible(image))

    @contextmanager
    def open_picture(self, path: Path, opts: ReadOptions) -> Iterator[Image.Image]:
        """The decoded frame, for previews (downsampled by the caller)."""
        with _opened(path, opts.key, opts.limits, decode=True) as image:
            image.load()
            yield _visible(image)

    def summarize(self, path: Path, opts: ReadOptions) -> ImageSummary:
        with _opened(path, opts.key, opts.limits) as image:
            _check_complete(path, image)
        with _opened(path, opts.key, opts.limits) as image:
            info = {str(k): encode_value(v, opts.preview_chars // 10)
                    for k, v in itertools.islice(image.info.items(), opts.preview_items) if k != "exif"}
            return ImageSummary(
                width=image.width, height=image.height, mode=image.mode, format=image.format,
                n_frames=getattr(image, "n_frames", 1), info=info,
            )

    def save(self, data: Any, path: Path, opts: WriteOptions) -> None:
        if isinstance(data, Image.Image):
            image = data
        else:
            arr = as_array(data, opts.dtype or None, limits=opts.limits)
            if arr.dtype != np.uint8:
                if arr.dtype.kind == "b":
                    arr = arr.astype(np.uint8) * 255
                elif arr.dtype.kind in "iu" and arr.size and arr.min() >= 0 and arr.max() <= 255:
                    arr = arr.astype(np.uint8)
                elif not (arr.dtype == np.uint16 and arr.ndim == 2):
                    raise InvalidDataError(
                        f"images take uint8 values (or uint16 greyscale), not {arr.dtype}",
                        hint="Scale the data to 0..255 and pass dtype='uint8', or save it as .npy.",
                    )
            if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[-1] in (3, 4))):
                raise InvalidDataError(f"an image is (H, W), (H, W, 3) or (H, W, 4), not {arr.shape}")
            image = Image.fromarray(np.ascontiguousarray(arr))
        if self.pil_format == "JPEG" and image.mode not in ("L", "RGB"):
            raise InvalidDataError(f"JPEG cannot store mode {image.mode}", hint="Use PNG for alpha or 16-bit data.")
        image.save(path, format=self.pil_format)


class FigureFormat(ImageFormat):
    """A picture that can carry sciio metadata (PNG iTXt, JPEG EXIF UserComment, TIFF tag): io_core.metadata."""

    def read_metadata(self, path: Path, opts: ReadOptions) -> tuple[Any, bool, dict[str, Any]]:
        from io_core import metadata

        return metadata.read(path, self.pil_format.lower())

    def embed_metadata(self, path: Path, metadata: Any, stream: Any, overwrite: bool) -> bool:
        from io_core import metadata as md

        return md.embed(path, self.pil_format.lower(), metadata, stream, overwrite=overwrite)


PNG = FigureFormat("PNG")
JPEG = FigureFormat("JPEG")
TIFF = FigureFormat("TIFF")
BMP = ImageFormat("BMP")
GIF = ImageFormat("GIF")
