"""The dashboard's charts: server-side SVG drawn by pygal, embedded as `data:` images (the
pages' Content-Security-Policy allows this site's scripts and styles only; an SVG image keeps
its own styles and runs no script). Each chart has a text alternative and a table beside it."""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from typing import Any

import pygal
from pygal.style import Style

INK, MUTED, LINE = "#1a1f36", "#4f566b", "#d5d9e2"
# Distinguishable with common colour blindness, each at 3:1 or more against white.
COLOURS = ("#3a3ac8", "#0b6b3a", "#b35c00", "#a4161a", "#6b3fa0", "#00707a")
STYLE = Style(
    background="transparent",
    plot_background="transparent",
    foreground=INK,
    foreground_strong=INK,
    foreground_subtle=LINE,
    opacity=".85",
    opacity_hover=".95",
    colors=COLOURS,
    font_family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif",
    label_font_size=13,
    major_label_font_size=13,
    legend_font_size=13,
    value_font_size=12,
    tooltip_font_size=12,
)


# A chart is drawn twice: wide for a screen, narrow (fewer labels, the same type size) for a phone.
WIDE, NARROW = (720, 300), (380, 300)


def _options(labels: Sequence[str], formatter: Callable[[Any], str], size: tuple[int, int]) -> dict[str, Any]:
    every = max(1, len(labels) // (6 if size == WIDE else 3))
    return {
        "style": STYLE,
        "width": size[0],
        "height": size[1],
        "js": [],
        "disable_xml_declaration": True,
        "explicit_size": False,
        "show_minor_x_labels": False,
        "x_labels_major_every": every,
        "truncate_label": -1,
        "truncate_legend": -1,
        "margin_right": 36,  # room for the last date label
        "legend_at_bottom": True,
        "legend_box_size": 12,
        "margin": 8,
        "value_formatter": formatter,
        "print_values": False,
        "dynamic_print_values": False,
    }


def _data_uri(chart: Any) -> str:
    svg = chart.render(is_unicode=True)
    return "data:image/svg+xml;base64," + base64.b64encode(str(svg).encode("utf-8")).decode()


def line_chart(
    labels: Sequence[str],
    series: dict[str, list[float | None]],
    formatter: Callable[[Any], str],
    *,
    value_range: tuple[float, float] | None = None,
    size: tuple[int, int] = WIDE,
) -> str:
    """Lines from 0 up (or over `value_range`): a flat MRR is a level, not a zoomed wiggle."""
    chart = pygal.Line(
        show_dots=True,
        allow_interruptions=True,  # a day without data is a gap, not a line across it
        dots_size=3,
        fill=False,
        include_x_axis=value_range is None,
        range=value_range,
        stroke_style={"width": 2.5},
        **_options(labels, formatter, size),
    )
    chart.x_labels = list(labels)
    for name, values in series.items():
        chart.add(name, values)
    return _data_uri(chart)


def bar_chart(
    labels: Sequence[str],
    series: dict[str, list[float | None]],
    formatter: Callable[[Any], str],
    *,
    stacked: bool,
    size: tuple[int, int] = WIDE,
) -> str:
    kind = pygal.StackedBar if stacked else pygal.Bar
    chart = kind(**_options(labels, formatter, size))
    chart.x_labels = list(labels)
    for name, values in series.items():
        chart.add(name, values)
    return _data_uri(chart)
