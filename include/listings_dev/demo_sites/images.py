"""A photo host for the image pipeline's demo, tests and benchmark: deterministic generated pictures, and the
broken or hostile files a real DMO's image URLs lead to.

- `GET /images/<anything>.<jpg|jpeg|png|webp>[?w=&h=]` — a picture drawn from a hash of the path (a
  gradient and a few coloured shapes, so different paths have different perceptual hashes and one path
  always gives the same bytes), 800x600 unless `w`/`h` say otherwise (up to 4000x3000; the same path at
  another size is the same picture scaled). `ETag` (quoted SHA-256 of the bytes) and `Last-Modified`; a
  matching `If-None-Match` (or, without one, `If-Modified-Since`) answers 304.
- `GET /images/_fault/<name>` — see `_FAULTS`: wrong-type.jpg (HTML), claims-jpeg.jpg (a PNG sent as
  image/jpeg), truncated.jpg (half a JPEG, honest Content-Length), short-body.jpg (declares more bytes
  than it sends, then hangs up), bomb.png (a 48 KB PNG declaring 20000x20000 pixels), huge.jpg?bytes=N
  [&delay=S][&declare=0] (N bytes in 64 KiB chunks, S seconds apart; declare=0 sends no Content-Length),
  redirect-loop.jpg, redirect.jpg[?to=URL], slow.jpg?seconds=S (headers, then S seconds, then the body),
  exif-rotated.jpg (EXIF Orientation 6), cmyk.jpg, icc.jpg (an Adobe-RGB-like embedded profile), tiny.png
  (20x20), alpha.png (RGBA with transparency).
- Anything else under /images/ — 404.

The builders (`picture`, `encode`, `bomb_png`, `rgb_icc_profile`...) are public: unit tests of the image
processing use the same files without a server.
"""

from __future__ import annotations

import hashlib
import io
import random
import struct
import time
import zlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime

from PIL import Image, ImageDraw, ImageOps

from listings_dev.demo_sites.server import Request, Response, Site, not_found

PREFIX = "/images/"
FAULT_PREFIX = "/images/_fault/"
DEFAULT_SIZE = (800, 600)
MAX_SIZE = (4000, 3000)
LAST_MODIFIED = datetime(2025, 1, 6, 9, 30, tzinfo=UTC)
CONTENT_TYPES = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp", "gif": "image/gif"}
_EXTENSIONS = {"jpg": "jpeg", "jpeg": "jpeg", "png": "png", "webp": "webp"}
_CHUNK = 64 * 1024
_ENCODE_DEFAULTS: dict[str, dict[str, object]] = {"jpeg": {"quality": 85}, "webp": {"quality": 80}}
_MAX_HUGE_BYTES = 500_000_000
_MAX_SLOW_SECONDS = 60.0

# D50-adapted XYZ of the primaries, as an ICC matrix/TRC profile stores them.
D50_WHITE = (0.9642, 1.0, 0.8249)
SRGB_PRIMARIES = ((0.4361, 0.2225, 0.0139), (0.3851, 0.7169, 0.0971), (0.1431, 0.0606, 0.7141))
ADOBE_RGB_PRIMARIES = ((0.6097, 0.3111, 0.0195), (0.2053, 0.6257, 0.0609), (0.1492, 0.0632, 0.7446))

Colour = tuple[int, int, int]
XYZ = tuple[float, float, float]


def picture(key: str, width: int = DEFAULT_SIZE[0], height: int = DEFAULT_SIZE[1]) -> Image.Image:
    """An RGB picture drawn from `key`: shapes are placed in fractions of the size, so one key at two sizes
    is one picture (close perceptual hashes) and two keys are two unrelated pictures."""
    rng = random.Random(int.from_bytes(hashlib.sha256(key.encode()).digest(), "big"))
    gradient = Image.linear_gradient("L").rotate(rng.choice((0, 90, 180, 270))).resize((width, height))
    image = ImageOps.colorize(gradient, black=_colour(rng), white=_colour(rng))
    draw = ImageDraw.Draw(image)
    for _ in range(rng.randint(4, 7)):
        x0, x1 = sorted(rng.uniform(-0.1, 1.1) * width for _ in range(2))
        y0, y1 = sorted(rng.uniform(-0.1, 1.1) * height for _ in range(2))
        box = (x0, y0, max(x1, x0 + width / 8), max(y1, y0 + height / 8))
        shape = rng.choice(("ellipse", "rectangle", "triangle"))
        if shape == "ellipse":
            draw.ellipse(box, fill=_colour(rng))
        elif shape == "rectangle":
            draw.rectangle(box, fill=_colour(rng))
        else:
            draw.polygon(
                [(box[0], box[3]), ((box[0] + box[2]) / 2, box[1]), (box[2], box[3])], fill=_colour(rng)
            )
    return image


def _colour(rng: random.Random) -> Colour:
    return (rng.randrange(256), rng.randrange(256), rng.randrange(256))


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    """`image` in `fmt` ("jpeg", "png", "webp", "gif") as a file's bytes."""
    out = io.BytesIO()
    defaults = _ENCODE_DEFAULTS.get(fmt, {})
    image.save(out, fmt.upper(), **{**defaults, **params})
    return out.getvalue()


def bomb_png(width: int = 20_000, height: int = 20_000) -> bytes:
    """A complete, valid 1-bit PNG of `width`x`height` black pixels: ~50 KB on the wire for 20000x20000,
    400 megapixels (1.2 GB as RGB) once decoded, which is what a decompression-bomb check must refuse."""
    row = b"\0" * (1 + (width + 7) // 8)  # filter byte + packed bits
    packer = zlib.compressobj(9)
    rows_per_piece = max(1, 1_000_000 // len(row))
    pieces = [
        packer.compress(row * min(rows_per_piece, height - done)) for done in range(0, height, rows_per_piece)
    ]
    idat = b"".join(pieces) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1 bit, greyscale, no interlace
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def rgb_icc_profile(
    description: str, primaries: tuple[XYZ, XYZ, XYZ] = ADOBE_RGB_PRIMARIES, gamma: float = 2.2
) -> bytes:
    """A minimal ICC v2 RGB display profile (matrix + gamma curves). ImageCms can only build sRGB, LAB and
    XYZ profiles; a file with another RGB profile needs one by hand. Swapped primaries make a conversion
    obvious in a test (red pixels come out blue)."""
    red, green, blue = primaries
    tags = [
        (b"desc", _icc_desc(description)),
        (b"cprt", b"text" + bytes(4) + b"No copyright, use freely\0"),
        (b"wtpt", _icc_xyz(D50_WHITE)),
        (b"rXYZ", _icc_xyz(red)),
        (b"gXYZ", _icc_xyz(green)),
        (b"bXYZ", _icc_xyz(blue)),
        *(
            (kind, b"curv" + bytes(4) + struct.pack(">IH", 1, round(gamma * 256)) + bytes(2))
            for kind in (b"rTRC", b"gTRC", b"bTRC")
        ),
    ]
    data_start = 128 + 4 + 12 * len(tags)
    table, data = b"", b""
    for kind, body in tags:
        data += bytes(-len(data) % 4)  # tag data is 4-byte aligned
        table += kind + struct.pack(">II", data_start + len(data), len(body))
        data += body
    size = data_start + len(data)
    header = (
        struct.pack(">I", size)
        + b"lcms"
        + bytes((2, 0x10, 0, 0))  # version 2.1
        + b"mntr"
        + b"RGB "
        + b"XYZ "
        + bytes(12)  # creation date
        + b"acsp"
        + b"APPL"
        + bytes(4 + 4 + 4 + 8 + 4)  # flags, manufacturer, model, attributes, rendering intent
        + b"".join(_s15(v) for v in D50_WHITE)
        + b"lcms"
        + bytes(16 + 28)  # profile id, reserved
    )
    return header + struct.pack(">I", len(tags)) + table + data


def _s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def _icc_xyz(xyz: XYZ) -> bytes:
    return b"XYZ " + bytes(4) + b"".join(_s15(v) for v in xyz)


def _icc_desc(text: str) -> bytes:
    ascii_text = text.encode("ascii") + b"\0"
    # ASCII description, then empty Unicode and ScriptCode descriptions (ICC v2 textDescriptionType).
    return b"desc" + bytes(4) + struct.pack(">I", len(ascii_text)) + ascii_text + bytes(4 + 4 + 2 + 1 + 67)


def exif_rotated_jpeg() -> bytes:
    """A 300x200 JPEG with EXIF Orientation 6 (display rotated 90° clockwise: 200x300). Stored: left half
    red, right half blue, a green square in the top-left corner; displayed: top half red, bottom half blue,
    the green square top-right."""
    image = Image.new("RGB", (300, 200), (220, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rectangle((150, 0, 299, 199), fill=(0, 0, 220))
    draw.rectangle((0, 0, 59, 59), fill=(0, 200, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation
    exif[0x010F] = "Demo Camera"  # Make: metadata a processed copy must not keep
    return encode(image, "jpeg", exif=exif.tobytes(), comment=b"demo comment")


def cmyk_jpeg() -> bytes:
    """A 300x200 CMYK JPEG (as print-ready photos from some DMOs are): left half red, right half blue."""
    image = Image.new("CMYK", (300, 200), (0, 255, 255, 0))
    ImageDraw.Draw(image).rectangle((150, 0, 299, 199), fill=(255, 255, 0, 0))
    return encode(image, "jpeg")


def icc_jpeg(profile: bytes | None = None) -> bytes:
    """A picture tagged with an embedded RGB profile (Adobe-RGB-like unless `profile` is given)."""
    image = picture("/images/_fault/icc.jpg", 400, 300)
    return encode(image, "jpeg", icc_profile=profile or rgb_icc_profile("Adobe RGB (1998) look-alike"))


def tiny_png() -> bytes:
    return encode(picture("/images/_fault/tiny.png", 20, 20), "png")


def alpha_png() -> bytes:
    """A 400x300 RGBA PNG: a transparent background around an opaque orange disc."""
    image = Image.new("RGBA", (400, 300), (0, 0, 0, 0))
    ImageDraw.Draw(image).ellipse((100, 50, 300, 250), fill=(255, 140, 0, 255))
    return encode(image, "png")


def handle(request: Request, site: Site) -> Response:
    if request.path.startswith(FAULT_PREFIX):
        fault = _FAULTS.get(request.path[len(FAULT_PREFIX) :])
        return fault(request, site) if fault else not_found(request.path)
    stem, dot, extension = request.path.rpartition(".")
    fmt = _EXTENSIONS.get(extension.lower())
    if not dot or fmt is None or len(stem) < len(PREFIX):
        return not_found(request.path)
    try:
        width = _bounded_int(request.arg("w"), DEFAULT_SIZE[0], MAX_SIZE[0])
        height = _bounded_int(request.arg("h"), DEFAULT_SIZE[1], MAX_SIZE[1])
    except ValueError as exc:
        return Response.json({"error": "bad_request", "message": str(exc)}, status=400)
    body: bytes = site.memo(
        f"images:{request.path}:{width}x{height}", lambda: encode(picture(request.path, width, height), fmt)
    )
    return _cacheable(request, body, CONTENT_TYPES[fmt])


def _bounded_int(value: str | None, default: int, maximum: int) -> int:
    if value is None or value == "":
        return default
    number = int(value)
    if not 1 <= number <= maximum:
        raise ValueError(f"{number} is outside 1..{maximum}")
    return number


def _cacheable(request: Request, body: bytes, content_type: str) -> Response:
    """200 with validators, or 304 when the client's copy is current (If-None-Match wins over
    If-Modified-Since, as RFC 9110 says)."""
    etag = f'"{hashlib.sha256(body).hexdigest()}"'
    headers = {"ETag": etag, "Last-Modified": format_datetime(LAST_MODIFIED, usegmt=True)}
    if_none_match = _header(request, "If-None-Match")
    if if_none_match is not None:
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        if etag in tags or "*" in tags:
            return Response(304, b"", headers)
    elif _not_modified_since(_header(request, "If-Modified-Since")):
        return Response(304, b"", headers)
    return Response(200, body, {"Content-Type": content_type, **headers})


def _not_modified_since(value: str | None) -> bool:
    if not value:
        return False
    try:
        return parsedate_to_datetime(value) >= LAST_MODIFIED
    except (TypeError, ValueError):
        return False


def _header(request: Request, name: str) -> str | None:
    wanted = name.lower()
    return next((value for key, value in request.headers.items() if key.lower() == wanted), None)


def _image(content: bytes, content_type: str = "image/jpeg") -> Response:
    return Response(200, content, {"Content-Type": content_type})


def _memo_picture(site: Site, request: Request, fmt: str) -> bytes:
    data: bytes = site.memo(f"images:{request.path}", lambda: encode(picture(request.path), fmt))
    return data


def _truncated(request: Request, site: Site) -> Response:
    whole = _memo_picture(site, request, "jpeg")
    return _image(whole[: len(whole) // 2])


def _short_body(request: Request, site: Site) -> Response:
    whole = _memo_picture(site, request, "jpeg")
    return Response(
        200,
        stream=[whole[: len(whole) // 2]],
        headers={"Content-Type": "image/jpeg", "Content-Length": str(len(whole))},
    )


def _huge(request: Request, site: Site) -> Response:
    try:
        size = _bounded_int(request.arg("bytes"), 20_000_000, _MAX_HUGE_BYTES)
        delay = min(float(request.arg("delay") or 0), _MAX_SLOW_SECONDS)
    except ValueError as exc:
        return Response.json({"error": "bad_request", "message": str(exc)}, status=400)
    headers = {"Content-Type": "image/jpeg"}
    if request.arg("declare") != "0":
        headers["Content-Length"] = str(size)
    return Response(200, stream=_filler(size, delay), headers=headers)


def _filler(size: int, delay: float) -> Iterator[bytes]:
    """`size` bytes that start like a JPEG, in chunks `delay` seconds apart."""
    sent = 0
    while sent < size:
        if sent and delay:
            time.sleep(delay)
        chunk = (b"\xff\xd8\xff\xe0" if sent == 0 else b"") + bytes(_CHUNK)
        chunk = chunk[: min(_CHUNK, size - sent)]
        yield chunk
        sent += len(chunk)


def _slow(request: Request, site: Site) -> Response:
    try:
        seconds = min(float(request.arg("seconds") or 2), _MAX_SLOW_SECONDS)
    except ValueError as exc:
        return Response.json({"error": "bad_request", "message": str(exc)}, status=400)
    body = _memo_picture(site, request, "jpeg")

    def late() -> Iterator[bytes]:
        time.sleep(seconds)
        yield body

    return Response(
        200, stream=late(), headers={"Content-Type": "image/jpeg", "Content-Length": str(len(body))}
    )


def _redirect(location: str) -> Callable[[Request, Site], Response]:
    """302 to `location`, or to the request's `to` (an open redirect: this is a test host)."""
    return lambda request, site: Response(302, b"", {"Location": request.arg("to") or location})


def _fixed(name: str, make: Callable[[], bytes], content_type: str) -> Callable[[Request, Site], Response]:
    return lambda request, site: _image(site.memo(f"images:fault:{name}", make), content_type)


_FAULTS: dict[str, Callable[[Request, Site], Response]] = {
    "wrong-type.jpg": lambda request, site: Response.html(
        "<!doctype html><title>Photo not found</title><p>This photo has moved.</p>"
    ),
    "claims-jpeg.jpg": lambda request, site: _image(_memo_picture(site, request, "png"), "image/jpeg"),
    "truncated.jpg": _truncated,
    "short-body.jpg": _short_body,
    "bomb.png": _fixed("bomb.png", bomb_png, "image/png"),
    "huge.jpg": _huge,
    "redirect-loop.jpg": _redirect(FAULT_PREFIX + "redirect-loop.jpg"),
    "redirect.jpg": _redirect(PREFIX + "redirected/target.jpg"),
    "slow.jpg": _slow,
    "exif-rotated.jpg": _fixed("exif-rotated.jpg", exif_rotated_jpeg, "image/jpeg"),
    "cmyk.jpg": _fixed("cmyk.jpg", cmyk_jpeg, "image/jpeg"),
    "icc.jpg": _fixed("icc.jpg", icc_jpeg, "image/jpeg"),
    "tiny.png": _fixed("tiny.png", tiny_png, "image/png"),
    "alpha.png": _fixed("alpha.png", alpha_png, "image/png"),
}
