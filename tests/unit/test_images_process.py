"""Image validation and re-encoding on generated files: real formats whatever is claimed, hostile and broken
files refused with a reason, orientation and colour made right, metadata gone, renditions and hashes."""

from __future__ import annotations

import hashlib
import io
import itertools

import imagehash
import pytest
from PIL import Image, ImageDraw, PngImagePlugin

from listings.images.process import (
    REJECTION_REASONS,
    Encoded,
    ImageRejected,
    ImageRules,
    Processed,
    Rendition,
    process_image,
)
from listings_dev.demo_sites import images as demo


def decoded(encoded: Encoded) -> Image.Image:
    image = Image.open(io.BytesIO(encoded.data))
    image.load()
    return image


def rejected(data: bytes, rules: ImageRules | None = None) -> ImageRejected:
    with pytest.raises(ImageRejected) as err:
        process_image(data, rules=rules or ImageRules())
    assert err.value.reason in REJECTION_REASONS and err.value.detail
    return err.value


def distance(a: str, b: str) -> int:
    return int(imagehash.hex_to_hash(a) - imagehash.hex_to_hash(b))


def close_to(pixel: object, expected: tuple[int, ...], tolerance: int = 40) -> bool:
    assert isinstance(pixel, tuple)
    return all(abs(int(p) - e) <= tolerance for p, e in zip(pixel, expected, strict=True))


@pytest.mark.parametrize("fmt", ["jpeg", "png", "webp", "gif"])
def test_each_supported_format_is_accepted_as_what_it_really_is(fmt: str) -> None:
    data = demo.encode(demo.picture("/images/formats.jpg"), fmt)
    result = process_image(data)
    assert result.source_format == fmt
    assert (result.width, result.height) == (800, 600)
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert len(result.phash) == 16 and len(result.dhash) == 16
    assert int(result.phash, 16) >= 0 and int(result.dhash, 16) >= 0  # hex


def test_the_claimed_type_plays_no_part() -> None:
    # What /images/_fault/claims-jpeg.jpg sends as image/jpeg: a PNG, accepted as one.
    png = demo.encode(demo.picture("/images/_fault/claims-jpeg.jpg"), "png")
    assert process_image(png).source_format == "png"


@pytest.mark.parametrize("fmt", ["jpeg", "png", "webp", "gif"])
def test_a_truncated_file_is_refused_not_padded(fmt: str) -> None:
    whole = demo.encode(demo.picture("/images/cut.jpg"), fmt)
    assert rejected(whole[: len(whole) // 2]).reason == "truncated"


def test_a_decompression_bomb_is_refused_before_decoding() -> None:
    max_before = Image.MAX_IMAGE_PIXELS
    assert rejected(demo.bomb_png()).reason == "decompression_bomb"  # 20000x20000: Pillow's own error
    # Our limit from the header, below Pillow's: a plain 800x600 picture under a 100 000-pixel rule.
    err = rejected(demo.encode(demo.picture("/images/a.png"), "png"), ImageRules(max_pixels=100_000))
    assert err.reason == "decompression_bomb" and "800x600" in err.detail
    # Between Pillow's warning and error limits, with our rule above both: the warning is a rejection.
    assert rejected(demo.bomb_png(9500, 9500), ImageRules(max_pixels=10**9)).reason == "decompression_bomb"
    assert max_before == Image.MAX_IMAGE_PIXELS  # the global limit is left alone


def test_too_small_is_refused_after_orientation() -> None:
    assert rejected(demo.tiny_png()).reason == "too_small"
    # 300x200 stored, 200x300 shown: a 250 px minimum height passes, a 250 px minimum width does not.
    assert process_image(demo.exif_rotated_jpeg(), rules=ImageRules(min_height=250)).height == 300
    assert rejected(demo.exif_rotated_jpeg(), ImageRules(min_width=250)).reason == "too_small"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "not_an_image"),
        (b"<!doctype html><title>Photo not found</title>", "not_an_image"),
        (demo.encode(demo.picture("/images/a.bmp"), "bmp"), "unsupported_format"),
        (demo.encode(demo.picture("/images/a.tif"), "tiff"), "unsupported_format"),
    ],
)
def test_what_is_not_one_of_our_images_is_refused(data: bytes, reason: str) -> None:
    assert rejected(data).reason == reason


def test_a_corrupt_file_is_refused() -> None:
    png = demo.encode(demo.picture("/images/corrupt.png"), "png")
    idat = png.index(b"IDAT")
    garbled = png[: idat + 40] + bytes(b ^ 0x5A for b in png[idat + 40 : idat + 200]) + png[idat + 200 :]
    assert rejected(garbled).reason == "corrupt"
    bad_header = png[:20] + bytes([png[20] ^ 0xFF]) + png[21:]  # IHDR checksum broken
    assert rejected(bad_header).reason == "corrupt"


def test_exif_orientation_is_applied_and_every_output_is_metadata_free() -> None:
    result = process_image(demo.exif_rotated_jpeg())
    assert (result.width, result.height) == (200, 300)
    shown = decoded(result.original)
    assert shown.size == (200, 300)
    assert close_to(shown.getpixel((190, 10)), (0, 200, 0))  # the green corner, now top-right
    assert close_to(shown.getpixel((100, 100)), (220, 0, 0))  # top half red
    assert close_to(shown.getpixel((100, 250)), (0, 0, 220))  # bottom half blue
    for encoded in (result.original, *result.renditions):
        image = decoded(encoded)
        assert image.format == encoded.fmt.upper()
        assert not image.getexif() and b"Exif" not in encoded.data and b"Demo Camera" not in encoded.data
        assert not {"exif", "comment", "icc_profile", "xmp"} & set(image.info)


def test_png_text_profile_and_exif_chunks_are_dropped() -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "taken at the secret location")
    exif = Image.Exif()
    exif[0x010F] = "Demo Camera"
    data = demo.encode(
        demo.picture("/images/meta.png"),
        "png",
        pnginfo=info,
        exif=exif.tobytes(),
        icc_profile=demo.rgb_icc_profile("Adobe-like"),
    )
    result = process_image(data)
    for encoded in (result.original, *result.renditions):
        assert b"secret" not in encoded.data and b"Demo Camera" not in encoded.data
        assert not {"exif", "comment", "Comment", "icc_profile"} & set(decoded(encoded).info)


def test_an_embedded_icc_profile_is_converted_to_srgb() -> None:
    red, green, blue = demo.SRGB_PRIMARIES
    swapped = demo.rgb_icc_profile("red and blue swapped", (blue, green, red))
    data = demo.encode(Image.new("RGB", (200, 200), (255, 0, 0)), "png", icc_profile=swapped)
    result = process_image(data)
    assert close_to(decoded(result.original).getpixel((100, 100)), (0, 0, 255), tolerance=10)
    # The demo host's icc.jpg (Adobe-RGB-like) goes through the same path and comes out changed.
    plain = process_image(demo.encode(demo.picture("/images/_fault/icc.jpg", 400, 300), "jpeg"))
    tagged = process_image(demo.icc_jpeg())
    assert decoded(tagged.original).tobytes() != decoded(plain.original).tobytes()


def test_cmyk_becomes_rgb() -> None:
    result = process_image(demo.cmyk_jpeg())
    image = decoded(result.original)
    assert result.original.fmt == "jpeg" and image.mode == "RGB"
    # No CMYK profile embedded: Pillow's plain conversion (cyan+magenta is pure blue).
    assert close_to(image.getpixel((40, 100)), (255, 0, 0), tolerance=10)  # red, left
    assert close_to(image.getpixel((260, 100)), (0, 0, 255), tolerance=10)  # blue, right


def test_sixteen_bit_greys_are_scaled_not_clipped() -> None:
    grey = Image.new("I;16", (200, 200), 32768)
    result = process_image(demo.encode(grey, "png"))
    assert close_to(decoded(result.original).convert("RGB").getpixel((10, 10)), (128, 128, 128), 2)


def test_transparency_keeps_a_png_original_and_jpeg_renditions_are_flattened_on_white() -> None:
    result = process_image(demo.alpha_png())
    assert result.original.fmt == "png" and result.original.content_type == "image/png"
    original = decoded(result.original)
    assert original.mode == "RGBA" and original.getpixel((5, 5))[3] == 0  # type: ignore[index]
    assert original.getpixel((200, 150)) == (255, 140, 0, 255)
    for rendition in result.renditions:
        image = decoded(rendition)
        if rendition.fmt == "jpeg":
            assert image.mode == "RGB" and close_to(image.getpixel((2, 2)), (255, 255, 255), 3)
        else:
            assert image.mode == "RGBA" and image.getpixel((2, 2))[3] == 0  # type: ignore[index]


def test_a_transparent_gif_keeps_its_transparency_and_only_the_first_frame_counts() -> None:
    frames = [Image.new("P", (200, 200), 0) for _ in range(2)]
    for frame, colour in zip(frames, ((255, 0, 0), (0, 0, 255)), strict=True):
        frame.putpalette([*colour, 0, 0, 0] + [0] * 762)
        ImageDraw.Draw(frame).rectangle((0, 0, 49, 49), fill=1)
    data = demo.encode(
        frames[0], "gif", save_all=True, append_images=frames[1:], transparency=1, duration=100
    )
    assert getattr(Image.open(io.BytesIO(data)), "n_frames", 1) == 2
    result = process_image(data)
    assert result.source_format == "gif" and result.original.fmt == "png"
    original = decoded(result.original)
    assert original.getpixel((100, 100)) == (255, 0, 0, 255)  # the first frame's red
    assert original.getpixel((10, 10))[3] == 0  # type: ignore[index]


def _sizes(result: Processed) -> list[tuple[str, str, int, int]]:
    return [(r.name, r.fmt, r.width, r.height) for r in result.renditions]


def test_renditions_come_in_every_format_and_are_never_upscaled() -> None:
    big = process_image(demo.encode(demo.picture("/images/big.jpg", 2000, 1500), "jpeg"))
    assert big.original.fmt == "jpeg" and (big.original.width, big.original.height) == (2000, 1500)
    assert _sizes(big) == [
        ("large", "webp", 1600, 1200),
        ("large", "jpeg", 1600, 1200),
        ("medium", "webp", 800, 600),
        ("medium", "jpeg", 800, 600),
        ("thumb", "webp", 200, 150),
        ("thumb", "jpeg", 200, 150),
    ]
    for rendition in big.renditions:
        image = decoded(rendition)
        assert image.size == (rendition.width, rendition.height)
        assert image.format == rendition.fmt.upper()
        assert rendition.ext == {"jpeg": "jpg", "webp": "webp"}[rendition.fmt]
        assert rendition.content_type == f"image/{rendition.fmt}"
    small = process_image(demo.encode(demo.picture("/images/small.webp", 500, 375), "webp"))
    assert small.original.fmt == "webp"
    assert [s[2:] for s in _sizes(small)] == [(500, 375)] * 4 + [(200, 150)] * 2
    custom = ImageRules(renditions=(Rendition("square", 120),), formats=("png",))
    assert _sizes(process_image(demo.alpha_png(), rules=custom)) == [("square", "png", 120, 90)]


def test_rules_refuse_unknown_formats() -> None:
    with pytest.raises(ValueError, match="avif"):
        ImageRules(formats=("avif",))
    with pytest.raises(ValueError, match="width"):
        Rendition("none", 0)


def test_perceptual_hashes_survive_re_encoding_and_tell_pictures_apart() -> None:
    keys = [f"/images/listing-{n}.jpg" for n in range(6)]
    for key in keys[:3]:
        sharp = process_image(demo.encode(demo.picture(key, 1600, 1200), "jpeg", quality=92))
        rough = process_image(demo.encode(demo.picture(key, 640, 480), "webp", quality=30))
        assert distance(sharp.phash, rough.phash) <= 6 and distance(sharp.dhash, rough.dhash) <= 8
    hashes = {key: process_image(demo.encode(demo.picture(key), "jpeg")).phash for key in keys}
    assert min(distance(hashes[a], hashes[b]) for a, b in itertools.combinations(keys, 2)) >= 16


def test_identical_bytes_have_one_identity() -> None:
    data = demo.encode(demo.picture("/images/same.jpg"), "jpeg")
    first, second = process_image(data), process_image(bytes(data))
    assert first.sha256 == second.sha256 and first.original.data == second.original.data
