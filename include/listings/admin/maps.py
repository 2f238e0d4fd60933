"""Where records are, drawn for a reviewer: pins placed relative to each other on a small plane with a
scale bar (the review page's map). Presentation only: the template draws the returned geometry as SVG."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from listings.matching.features import EARTH_RADIUS_M


def pins_plane(
    pins: Sequence[tuple[str, str, float | None, float | None, Any]],
    *,
    width: int = 360,
    height: int = 240,
    pad: int = 28,
) -> dict[str, Any] | None:
    """Pins (label, kind, lat, lng, title) placed relative to each other on a width x height plane (an
    equirectangular projection around their centre: true to scale at these distances) with a scale bar
    of a round distance. None when no pin has coordinates."""
    placed = [
        (label, kind, lat, lng, title)
        for label, kind, lat, lng, title in pins
        if lat is not None and lng is not None
    ]
    if not placed:
        return None
    lat0 = sum(p[2] for p in placed) / len(placed)
    lng0 = sum(p[3] for p in placed) / len(placed)
    k = math.pi / 180 * EARTH_RADIUS_M
    metres = [((p[3] - lng0) * k * math.cos(math.radians(lat0)), (p[2] - lat0) * k) for p in placed]
    span_x = max(abs(x) for x, _ in metres)
    span_y = max(abs(y) for _, y in metres)
    half_w, half_h = width / 2 - pad, height / 2 - pad
    scale = min(half_w / span_x if span_x else math.inf, half_h / span_y if span_y else math.inf)
    if not math.isfinite(scale):
        scale = half_w / 100  # every pin at one spot: 100 m across half the plane
    out = []
    for (label, kind, lat, lng, title), (x, y) in zip(placed, metres, strict=True):
        out.append(
            {
                "label": label,
                "kind": kind,
                "x": round(width / 2 + x * scale, 1),
                "y": round(height / 2 - y * scale, 1),
                "title": f"{title or ''} ({lat:.5f}, {lng:.5f})",
            }
        )
    target = (width / 4) / scale  # metres for about a quarter of the width
    magnitude = 10 ** math.floor(math.log10(target)) if target > 0 else 1
    nice = max((m * magnitude for m in (1, 2, 5, 10) if m * magnitude <= target), default=magnitude)
    label = f"{nice / 1000:g} km" if nice >= 1000 else f"{nice:g} m"
    missing = [label for label, _, lat, lng, _ in pins if lat is None or lng is None]
    return {
        "width": width,
        "height": height,
        "pins": out,
        "scale_px": round(nice * scale, 1),
        "scale_label": label,
        "missing": missing,
    }
