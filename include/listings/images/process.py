"""What a downloaded listing photo really is, whether it is safe and big enough to publish, and the files we
publish from it: a metadata-free original, web renditions, and the perceptual hashes matching compares.

Decoding untrusted files is where image pipelines get hurt, so the order matters: identify the format from
the bytes (never the server's claim), refuse oversized headers before any pixel is decoded, and refuse
truncated files instead of letting Pillow pad them with grey.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import warnings
from dataclasses import dataclass

import imagehash
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

# Pillow's format name -> ours. Anything else Pillow can read (BMP, TIFF, ICO...) is refused: browsers and
# our renditions do not need them, and every extra decoder is attack surface.
SUPPORTED_FORMATS = {"JPEG": "jpeg", "PNG": "png", "WEBP": "webp", "GIF": "gif"}
REJECTION_REASONS = (
    "not_an_image",
    "unsupported_format",
    "decompression_bomb",
    "truncated",
    "too_small",
    "corrupt",
)
# our format -> (file extension, content type, Pillow save options beyond quality)
_ENCODINGS: dict[str, tuple[str, str, dict[str, object]]] = {
    "jpeg": ("jpg", "image/jpeg", {"optimize": True, "progressive": True}),
    "png": ("png", "image/png", {}),
    "webp": ("webp", "image/webp", {"method": 4}),
}
_SIGNATURES = {b"\x89PNG\r\n\x1a\n": "png", b"\xff\xd8\xff": "jpeg", b"GIF87a": "gif", b"GIF89a": "gif"}
_WHITE = (255, 255, 255)
_GRAPHIC_MAX_COLOURS = 256  # a PNG/GIF with no more colours is a logo or map: kept lossless
_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


@dataclass(frozen=True)
class Rendition:
    name: str  # e.g. "large", "medium", "thumb"
    width: int  # target width in px; the height keeps the aspect ratio; never upscaled

    def __post_init__(self) -> None:
        if self.width < 1:
            raise ValueError(f"rendition {self.name!r}: width must be at least 1 px, not {self.width}")


@dataclass(frozen=True)
class ImageRules:
    min_width: int = 100
    min_height: int = 100
    max_pixels: int = 50_000_000  # decompression-bomb limit, checked from the header before decoding
    renditions: tuple[Rendition, ...] = (
        Rendition("large", 1600),
        Rendition("medium", 800),
        Rendition("thumb", 200),
    )
    formats: tuple[str, ...] = ("webp", "jpeg")  # encodings of each rendition
    quality: int = 82

    def __post_init__(self) -> None:
        unknown = [fmt for fmt in self.formats if fmt not in _ENCODINGS]
        if unknown:
            raise ValueError(f"rendition formats {unknown} are not among {sorted(_ENCODINGS)}")
        if not 1 <= self.quality <= 100:
            raise ValueError(f"quality must be within 1..100, not {self.quality}")


class ImageRejected(Exception):
    """A downloaded file we will not publish. `reason` is one of REJECTION_REASONS (counted per job);
    `detail` is a sentence for the person looking at the listing's images."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Encoded:
    name: str  # "original" or the rendition name
    fmt: str  # "jpeg" | "png" | "webp"
    ext: str  # "jpg" | "png" | "webp"
    content_type: str
    width: int
    height: int
    data: bytes


@dataclass(frozen=True)
class Processed:
    sha256: str  # of the downloaded bytes: identical content is stored once
    source_format: str  # what Pillow found in the bytes, whatever the server claimed
    width: int  # after EXIF orientation
    height: int
    phash: str  # imagehash.phash, 16 hex digits
    dhash: str  # imagehash.dhash, 16 hex digits
    original: Encoded  # full size, sRGB, metadata stripped
    renditions: tuple[Encoded, ...]  # one per (rendition, format), in rules order


def process_image(data: bytes, *, rules: ImageRules = ImageRules()) -> Processed:
    """Validate `data` and build what we publish; raises ImageRejected with the reason."""
    image, source_format = _decode(data, rules)
    _orient(image)
    if image.width < rules.min_width or image.height < rules.min_height:
        raise ImageRejected(
            "too_small",
            f"{image.width}x{image.height} px is below the minimum {rules.min_width}x{rules.min_height} px",
        )
    image = _to_srgb(image)
    phash, dhash = _hashes(image)
    return Processed(
        sha256=hashlib.sha256(data).hexdigest(),
        source_format=source_format,
        width=image.width,
        height=image.height,
        phash=phash,
        dhash=dhash,
        original=_encode(image, "original", _original_format(image, source_format), rules.quality),
        renditions=_renditions(image, rules),
    )


def _decode(data: bytes, rules: ImageRules) -> tuple[Image.Image, str]:
    """The first frame, decoded, and its real format. Pillow's own bomb warning is made an error here
    (catch_warnings is process-wide, so in threads it may slip through: the header check below does not
    depend on it) and its global MAX_IMAGE_PIXELS is left alone."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        image = _open(data)
        source_format = SUPPORTED_FORMATS.get(image.format or "")
        if source_format is None:
            raise ImageRejected("unsupported_format", f"{image.format} files are not accepted")
        pixels = image.width * image.height
        if pixels > rules.max_pixels:
            raise ImageRejected(
                "decompression_bomb",
                f"the header declares {image.width}x{image.height} = {pixels:,} pixels, "
                f"more than the {rules.max_pixels:,} allowed",
            )
        _load(image, data)
    return image, source_format


def _open(data: bytes) -> Image.Image:
    try:
        return Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected("decompression_bomb", str(exc)) from None
    except UnidentifiedImageError as exc:
        claimed = _signature(data)
        if claimed is not None:  # it starts like one of ours but Pillow cannot read even its header
            raise _broken(exc, data, f"a {claimed} header Pillow cannot read") from None
        raise ImageRejected(
            "not_an_image", f"no image format recognised in these {len(data):,} bytes ({data[:8]!r}...)"
        ) from None
    except MemoryError:
        raise
    except Exception as exc:  # a recognised but broken header: Pillow raises many kinds
        raise _broken(exc, data) from None


def _load(image: Image.Image, data: bytes) -> None:
    """Decode the pixels (the first frame of an animation). LOAD_TRUNCATED_IMAGES stays off: a cut file
    must be refused, not published half grey."""
    try:
        image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected("decompression_bomb", str(exc)) from None
    except MemoryError:
        raise
    except Exception as exc:
        raise _broken(exc, data) from None


def _broken(exc: Exception, data: bytes, what: str | None = None) -> ImageRejected:
    if "truncated" in str(exc).lower() or _riff_is_cut(data):
        return ImageRejected("truncated", f"the file ends early ({len(data):,} bytes): {exc}")
    return ImageRejected("corrupt", f"cannot decode the image: {what or f'{type(exc).__name__}: {exc}'}")


def _signature(data: bytes) -> str | None:
    """The supported format these bytes start like, if any."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return next((fmt for magic, fmt in _SIGNATURES.items() if data.startswith(magic)), None)


def _riff_is_cut(data: bytes) -> bool:
    """A WebP shorter than its RIFF header says (libwebp only says it cannot decode)."""
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        return False
    return int.from_bytes(data[4:8], "little") + 8 > len(data)


def _orient(image: Image.Image) -> None:
    """Turn the pixels the way the camera's EXIF Orientation says, in place (no second copy)."""
    # Unreadable EXIF: the pixels as stored beat a rejected photo.
    with contextlib.suppress(SyntaxError, ValueError, TypeError, KeyError, OSError):
        ImageOps.exif_transpose(image, in_place=True)


def _to_srgb(image: Image.Image) -> Image.Image:
    """sRGB pixels in RGB, or RGBA when some pixel is transparent. An embedded ICC profile is converted
    (a wide-gamut or CMYK photo shown untagged looks dull or wrong); metadata is dropped so that no EXIF,
    XMP, GPS or comment reaches what we publish."""
    profile = image.info.get("icc_profile")
    image = _working_mode(image)
    if profile:
        image = _apply_profile(image, profile)
    if image.mode not in ("RGB", "RGBA"):
        image = image.convert("RGB")
    if image.mode == "RGBA" and not _has_transparency(image):
        image = image.convert("RGB")
    image.info = {}
    return image


def _working_mode(image: Image.Image) -> Image.Image:
    """RGB, RGBA, CMYK or L: modes an ICC profile can apply to and that convert to RGB(A) faithfully."""
    mode = image.mode
    if mode in ("RGB", "L") and image.info.get("transparency") is not None:
        return image.convert("RGBA")  # a PNG tRNS colour, a grey GIF's transparent index
    if mode in ("RGB", "RGBA", "CMYK", "L"):
        return image
    if mode == "P":
        return image.convert("RGBA" if image.has_transparency_data else "RGB")
    if mode in ("PA", "LA", "La", "RGBa"):
        return image.convert("RGBA")
    if mode.startswith("I") or mode == "F":
        # 16-bit greys: scale to 8 bits (a plain convert would clip everything above 255 to white).
        return image.convert("I").point(lambda value: value / 256).convert("L")
    try:
        return image.convert("RGB")  # 1, RGBX, YCbCr...
    except ValueError as exc:
        raise ImageRejected(
            "unsupported_format", f"{mode} pixels cannot be shown on the web: {exc}"
        ) from None


def _apply_profile(image: Image.Image, profile: bytes) -> Image.Image:
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
        converted = ImageCms.profileToProfile(
            image,
            source,
            _SRGB,
            renderingIntent=ImageCms.Intent.PERCEPTUAL,
            outputMode="RGBA" if image.mode == "RGBA" else "RGB",
        )
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return image  # a broken profile, or one for another colour space: keep the pixels as they are
    return converted if converted is not None else image


def _has_transparency(image: Image.Image) -> bool:
    low, _high = image.getchannel("A").getextrema()
    return isinstance(low, int | float) and low < 255


def _flatten(image: Image.Image) -> Image.Image:
    """RGBA on a white background (JPEG has no alpha; white is what a listing page shows behind it)."""
    if image.mode != "RGBA":
        return image
    background = Image.new("RGB", image.size, _WHITE)
    background.paste(image, mask=image.getchannel("A"))
    return background


def _hashes(image: Image.Image) -> tuple[str, str]:
    """pHash and dHash of the picture as shown (transparent areas white), for near-duplicate matching.

    Both hashes shrink the picture to a few dozen pixels: they are computed from a box-reduced copy of
    about 256 px (the same bits, a tenth of the time on a 12-megapixel photo)."""
    factor = max(1, min(image.size) // 256)
    shown = _flatten(image.reduce(factor) if factor > 1 else image)
    return str(imagehash.phash(shown)), str(imagehash.dhash(shown))


def _original_format(image: Image.Image, source_format: str) -> str:
    """WebP stays WebP; transparency needs PNG; a PNG or GIF with few colours (a logo, a map) stays
    lossless PNG; photos, including photos saved as PNG, become JPEG (several times smaller)."""
    if source_format == "webp":
        return "webp"
    if image.mode == "RGBA":
        return "png"
    if source_format in ("png", "gif") and image.getcolors(_GRAPHIC_MAX_COLOURS) is not None:
        return "png"
    return "jpeg"


def _renditions(image: Image.Image, rules: ImageRules) -> tuple[Encoded, ...]:
    """One file per (rendition, format), in the rules' order. Sizes are made largest first, each from the
    one before (a 1600 px copy makes the 800 px one far faster than the full photo would); two renditions
    that end at the same width (a small source) share one encoding."""
    done: dict[tuple[int, str], Encoded] = {}
    by_name: dict[str, list[Encoded]] = {}
    source = image
    for rendition in sorted(rules.renditions, key=lambda r: -r.width):
        width = min(rendition.width, image.width)
        height = max(1, round(image.height * width / image.width))
        if width != source.width:
            source = source.resize((width, height), Image.Resampling.LANCZOS, reducing_gap=3.0)
        encoded = by_name.setdefault(rendition.name, [])
        for fmt in rules.formats:
            same = done.get((width, fmt))
            if same is None:
                done[(width, fmt)] = same = _encode(source, rendition.name, fmt, rules.quality)
                encoded.append(same)
            else:
                encoded.append(_renamed(same, rendition.name))
    return tuple(e for r in rules.renditions for e in by_name[r.name])


def _renamed(encoded: Encoded, name: str) -> Encoded:
    return Encoded(
        name, encoded.fmt, encoded.ext, encoded.content_type, encoded.width, encoded.height, encoded.data
    )


def _encode(image: Image.Image, name: str, fmt: str, quality: int) -> Encoded:
    """`image` as a `fmt` file with no metadata: nothing from the source's info is passed to save."""
    ext, content_type, options = _ENCODINGS[fmt]
    pixels = _flatten(image) if fmt == "jpeg" else image
    out = io.BytesIO()
    params = {**options} if fmt == "png" else {**options, "quality": quality}
    pixels.save(out, fmt.upper(), **params)
    return Encoded(name, fmt, ext, content_type, image.width, image.height, out.getvalue())
