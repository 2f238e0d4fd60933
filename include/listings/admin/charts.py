"""Small server-rendered SVG charts for the admin's health page: bars (stacked or side by side) and lines
over one label per day. No JavaScript, nothing fetched: the page inlines the returned SVG text.

Geometry (`Frame`): the plot area spans x in [left, width - right] and y in [top, height - bottom]. A value v
of a chart whose axis ends at `ymax` (`nice_max` of the largest value or stacked total; whole-number
steps when every value is a whole number) sits at
y = height - bottom - v / ymax * plot_height; label i's band starts at x = left + i * plot_width / n. Bars
fill `BAR_FILL` of their band; a line's points sit at the middle of their band. Each bar and point carries
`data-series`, `data-label` and `data-value` attributes and a <title> tooltip. A chart with no value other
than zero or None renders the empty-state message instead of axes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from html import escape

Number = float | int
Formatter = Callable[[float], str]

PALETTE = ("#2e90fa", "#12b76a", "#f79009", "#9e77ed", "#f04438", "#98a2b3", "#0ba5ec", "#ee46bc")
BAR_FILL = 0.7
EMPTY_MESSAGE = "No data for this period."
MAX_X_LABELS = 8


@dataclass(frozen=True)
class Frame:
    width: int = 640
    height: int = 220
    left: int = 64
    right: int = 12
    top: int = 30  # the legend's row
    bottom: int = 26  # the x labels' row

    @property
    def plot_width(self) -> float:
        return float(self.width - self.left - self.right)

    @property
    def plot_height(self) -> float:
        return float(self.height - self.top - self.bottom)

    @property
    def baseline(self) -> float:
        """The y of a zero value."""
        return float(self.height - self.bottom)

    def y(self, value: float, ymax: float) -> float:
        return self.baseline - (value / ymax) * self.plot_height if ymax > 0 else self.baseline

    def band(self, n: int) -> float:
        return self.plot_width / n if n else self.plot_width


def nice_max(value: float, *, integers: bool = False) -> float:
    """The axis end for a largest value: the smallest of 1, 2, 2.5, 5 x 10^k at or above it (1 for nothing
    to show). With `integers` (counts), the middle tick stays a whole number: an even number up to 10,
    then 1, 2, 5 x 10^k."""
    if not value or value <= 0 or math.isnan(value):
        return 2.0 if integers else 1.0
    if integers and value <= 10:
        return float(max(2, math.ceil(value) + math.ceil(value) % 2))
    exp = math.floor(math.log10(value))
    for step in (1, 2, 5, 10) if integers else (1, 2, 2.5, 5, 10):
        candidate = step * 10.0**exp
        if candidate >= value * (1 - 1e-12):
            return candidate
    return 10.0 ** (exp + 1)  # pragma: no cover (10 x 10^k always qualifies)


def _integral(values: Mapping[str, Sequence[float | None]]) -> bool:
    return all(float(v).is_integer() for vs in values.values() for v in vs if v is not None)


# ------------------------------------------------------------------------------------------------
# Value formats (axis ticks and tooltips)
# ------------------------------------------------------------------------------------------------


def fmt_count(value: float) -> str:
    if abs(value) >= 1_000_000:
        return f"{value / 1_000_000:.1f}M".replace(".0M", "M")
    if abs(value) >= 10_000:
        return f"{value / 1000:.0f}k"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def fmt_bytes(value: float) -> str:
    size = float(value)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(size) < 1024 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" or size >= 100 else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"  # pragma: no cover


def fmt_pct(value: float) -> str:
    return f"{value:.0f}%" if value >= 10 or value == 0 else f"{value:.1f}%"


def fmt_usd(value: float) -> str:
    return f"${value:,.2f}"


# ------------------------------------------------------------------------------------------------
# Charts
# ------------------------------------------------------------------------------------------------


def _num(v: float) -> str:
    """A coordinate: two decimals at most, no trailing zeros."""
    text = f"{v:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _values(series: Mapping[str, Sequence[Number | None]], n: int) -> dict[str, list[float | None]]:
    out: dict[str, list[float | None]] = {}
    for name, values in series.items():
        if len(values) != n:
            raise ValueError(f"series {name!r} has {len(values)} values for {n} labels")
        out[name] = [None if v is None else float(v) for v in values]
    return out


def is_empty(series: Mapping[str, Sequence[Number | None]]) -> bool:
    """True when no series has a value other than zero or None."""
    return not any(v for values in series.values() for v in values if v is not None)


def _open(frame: Frame, title: str, kind: str, extra_class: str = "") -> str:
    cls = f"chart chart-{kind}{' ' + extra_class if extra_class else ''}"
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="{cls}" viewBox="0 0 {frame.width} {frame.height}"'
        f' width="{frame.width}" height="{frame.height}" role="img" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>"
    )


def empty_chart(title: str, *, message: str = EMPTY_MESSAGE, frame: Frame = Frame()) -> str:
    return (
        _open(frame, f"{title}: {message}", "empty", "chart-empty")
        + f'<rect x="0.5" y="0.5" width="{frame.width - 1}" height="{frame.height - 1}" rx="6"'
        ' fill="#f6f8fb" stroke="#d0d5dd" stroke-dasharray="4 3"/>'
        f'<text class="empty-message" x="{frame.width / 2:g}" y="{frame.height / 2:g}" text-anchor="middle"'
        f' dominant-baseline="middle" fill="#667085" font-size="14">{escape(message)}</text></svg>'
    )


def _axes(frame: Frame, labels: Sequence[str], ymax: float, fmt: Formatter) -> list[str]:
    parts = []
    for fraction in (0.0, 0.5, 1.0):
        value = ymax * fraction
        y = frame.y(value, ymax)
        parts.append(
            f'<line class="grid" x1="{frame.left}" x2="{frame.width - frame.right}" y1="{_num(y)}" y2="{_num(y)}"'
            f' stroke="{"#98a2b3" if fraction == 0 else "#eaecf0"}" stroke-width="1"/>'
            f'<text class="tick" x="{frame.left - 6}" y="{_num(y)}" text-anchor="end" dominant-baseline="middle"'
            f' font-size="11" fill="#667085">{escape(fmt(value))}</text>'
        )
    n = len(labels)
    step = max(1, math.ceil(n / MAX_X_LABELS))
    band = frame.band(n)
    for i, label in enumerate(labels):
        if i % step:
            continue
        x = frame.left + (i + 0.5) * band
        parts.append(
            f'<text class="xlabel" x="{_num(x)}" y="{frame.height - 8}" text-anchor="middle" font-size="11"'
            f' fill="#667085">{escape(label)}</text>'
        )
    return parts


def _legend(frame: Frame, names: Sequence[str], colors: Sequence[str]) -> list[str]:
    parts = []
    x = float(frame.left)
    for name, color in zip(names, colors, strict=False):
        parts.append(
            f'<g class="legend-item"><rect x="{_num(x)}" y="8" width="10" height="10" rx="2" fill="{color}"/>'
            f'<text x="{_num(x + 14)}" y="17" font-size="12" fill="#344054">{escape(name)}</text></g>'
        )
        x += 14 + 7 * len(name) + 16
    return parts


def _colors(names: Sequence[str], colors: Mapping[str, str] | None) -> list[str]:
    return [(colors or {}).get(name) or PALETTE[i % len(PALETTE)] for i, name in enumerate(names)]


def bar_chart(
    labels: Sequence[str],
    series: Mapping[str, Sequence[Number | None]],
    *,
    title: str,
    stacked: bool = True,
    fmt: Formatter = fmt_count,
    colors: Mapping[str, str] | None = None,
    frame: Frame = Frame(),
    empty_message: str = EMPTY_MESSAGE,
) -> str:
    """Bars per label, one per series: stacked (the series add up) or side by side."""
    n = len(labels)
    values = _values(series, n)
    if not n or is_empty(values):
        return empty_chart(title, message=empty_message, frame=frame)
    names = list(values)
    if stacked:
        top = max(sum(max(0.0, v or 0.0) for v in column) for column in zip(*values.values(), strict=True))
    else:
        top = max(max(0.0, v or 0.0) for vs in values.values() for v in vs)
    ymax = nice_max(top, integers=_integral(values))
    band = frame.band(n)
    width = band * BAR_FILL
    palette = _colors(names, colors)
    parts = [_open(frame, title, "bar"), *_axes(frame, labels, ymax, fmt)]
    for i, label in enumerate(labels):
        x0 = frame.left + i * band + (band - width) / 2
        base = 0.0
        for k, name in enumerate(names):
            v = max(0.0, values[name][i] or 0.0)
            if stacked:
                y_top, y_bottom = frame.y(base + v, ymax), frame.y(base, ymax)
                x, w = x0, width
                base += v
            else:
                w = width / len(names)
                x = x0 + k * w
                y_top, y_bottom = frame.y(v, ymax), frame.baseline
            if v <= 0:
                continue
            parts.append(
                f'<rect class="bar" x="{_num(x)}" y="{_num(y_top)}" width="{_num(w)}"'
                f' height="{_num(y_bottom - y_top)}" fill="{palette[k]}" data-series="{escape(name)}"'
                f' data-label="{escape(label)}" data-value="{_num(v)}">'
                f"<title>{escape(label)} · {escape(name)}: {escape(fmt(v))}</title></rect>"
            )
    parts += _legend(frame, names, palette)
    parts.append("</svg>")
    return "".join(parts)


def line_chart(
    labels: Sequence[str],
    series: Mapping[str, Sequence[Number | None]],
    *,
    title: str,
    fmt: Formatter = fmt_count,
    colors: Mapping[str, str] | None = None,
    frame: Frame = Frame(),
    empty_message: str = EMPTY_MESSAGE,
) -> str:
    """One line per series through its values (None leaves a gap), a dot on each value."""
    n = len(labels)
    values = _values(series, n)
    if not n or is_empty(values):
        return empty_chart(title, message=empty_message, frame=frame)
    names = list(values)
    ymax = nice_max(max(max(0.0, v or 0.0) for vs in values.values() for v in vs), integers=_integral(values))
    band = frame.band(n)
    palette = _colors(names, colors)
    parts = [_open(frame, title, "line"), *_axes(frame, labels, ymax, fmt)]
    for k, name in enumerate(names):
        path: list[str] = []
        dots: list[str] = []
        pen_up = True
        for i, label in enumerate(labels):
            v = values[name][i]
            if v is None:
                pen_up = True
                continue
            x, y = frame.left + (i + 0.5) * band, frame.y(max(0.0, v), ymax)
            path.append(f"{'M' if pen_up else 'L'}{_num(x)},{_num(y)}")
            pen_up = False
            dots.append(
                f'<circle class="point" cx="{_num(x)}" cy="{_num(y)}" r="2.5" fill="{palette[k]}"'
                f' data-series="{escape(name)}" data-label="{escape(label)}" data-value="{_num(v)}">'
                f"<title>{escape(label)} · {escape(name)}: {escape(fmt(v))}</title></circle>"
            )
        if path:
            parts.append(
                f'<path class="line" d="{" ".join(path)}" fill="none" stroke="{palette[k]}" stroke-width="2"'
                f' data-series="{escape(name)}"/>'
            )
        parts += dots
    parts += _legend(frame, names, palette)
    parts.append("</svg>")
    return "".join(parts)
