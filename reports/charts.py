"""Small server-rendered SVG line charts: no JavaScript, no external files, readable in print."""

from collections.abc import Sequence

from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 640, 240
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 64, 16, 30, 40
COLORS = ("#2563eb", "#dc2626", "#059669")


def line_chart(
    *,
    title: str,
    x_labels: Sequence[str],
    series: dict[str, Sequence[float | None]],
    y_format: str = "{:.2f}",
    x_title: str = "",
) -> SafeString:
    """An SVG chart of one or more series over the same x labels (None values are gaps)."""
    values = [v for ys in series.values() for v in ys if v is not None]
    if not values or not x_labels:
        return format_html('<p class="empty-chart">{}: no data yet.</p>', title)
    lo, hi = min(0.0, min(values)), max(values)
    hi = hi if hi > lo else lo + 1
    n = len(x_labels)
    plot_w, plot_h = WIDTH - PAD_LEFT - PAD_RIGHT, HEIGHT - PAD_TOP - PAD_BOTTOM

    def x(i: int) -> float:
        return PAD_LEFT + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(v: float) -> float:
        return PAD_TOP + plot_h * (1 - (v - lo) / (hi - lo))

    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>',
        f'<rect x="{PAD_LEFT}" y="{PAD_TOP}" width="{plot_w}" height="{plot_h}" fill="#f8fafc" stroke="#cbd5e1"/>',
    ]
    for k in range(5):
        v = lo + (hi - lo) * k / 4
        yy = y(v)
        parts.append(
            f'<line x1="{PAD_LEFT}" x2="{WIDTH - PAD_RIGHT}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#e2e8f0"/>'
        )
        parts.append(
            f'<text x="{PAD_LEFT - 6}" y="{yy + 4:.1f}" text-anchor="end" font-size="11" fill="#475569">'
            f"{escape(y_format.format(v))}</text>"
        )
    step = max(1, n // 6)
    for i in range(0, n, step):
        anchor = "start" if i == 0 and n > 1 else "end" if i == n - 1 and n > 1 else "middle"
        parts.append(
            f'<text x="{x(i):.1f}" y="{HEIGHT - PAD_BOTTOM + 16}" text-anchor="{anchor}" '
            f'font-size="11" fill="#475569">{escape(x_labels[i])}</text>'
        )
    if x_title:
        parts.append(
            f'<text x="{PAD_LEFT + plot_w / 2:.1f}" y="{HEIGHT - 4}" text-anchor="middle" font-size="11" '
            f'fill="#475569">{escape(x_title)}</text>'
        )
    for (name, ys), color in zip(series.items(), COLORS, strict=False):
        points = [(x(i), y(v)) for i, v in enumerate(ys) if v is not None]
        path = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
        parts.append(
            f'<polyline class="series" data-series="{escape(name)}" fill="none" stroke="{color}" '
            f'stroke-width="2" points="{path}"/>'
        )
        parts += [
            f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{color}"/>' for px, py in points
        ]
    legend_x = PAD_LEFT + 8
    for i, (name, color) in enumerate(zip(series, COLORS, strict=False)):
        parts.append(
            f'<rect x="{legend_x + i * 170}" y="8" width="10" height="10" fill="{color}"/>'
            f'<text x="{legend_x + i * 170 + 14}" y="17" font-size="11" fill="#0f172a">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text above is escaped; numbers are ours
