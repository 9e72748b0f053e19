"""Inline SVG charts for the run report: pure functions of plain numbers returning SVG text (no scripts, no assets).

Marks carry a class tests and readers can count: `bar` (histogram bars), `point` (markers), `line` (series).
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence

SVG_NS = "http://www.w3.org/2000/svg"
WIDTH, HEIGHT = 560, 320
LEFT, RIGHT, TOP, BOTTOM = 60, 140, 34, 50  # the legend sits in the right margin
PALETTE = ("#1f77b4", "#d95f02", "#1b9e77", "#7570b3", "#e7298a", "#66a61e", "#a6761d")
SERIES_COLORS = {"eager": PALETTE[0], "torch.compile": PALETTE[1]}
MUTED = "#888888"
HIST_BIN = 0.5  # log2 units: each bar spans a factor of sqrt(2)
LOG2_CLAMP = 8.0  # speedups beyond 256x (or below 1/256x) land in the edge bins


def _color(name: str, index: int) -> str:
    return SERIES_COLORS.get(name, PALETTE[index % len(PALETTE)])


def _num(value: float) -> str:
    return f"{value:.1f}"


MAX_LOG2_TICKS = 6


def _x_label(k: float) -> str:
    """A tick on a log2 speedup axis: 2**k written as a factor, two significant digits below 1 (1/64 is 0.016×)."""
    value = 2 ** k
    return f"{value:g}×" if value >= 1 else f"{value:.2g}×"


class _Chart:
    """One chart: a plot area with linear (or log2) mappings from data to pixels."""

    def __init__(self, title: str, x_range: tuple[float, float], y_range: tuple[float, float],
                 x_label: str, y_label: str) -> None:
        self.x0, self.x1 = x_range
        self.y0, self.y1 = y_range
        self.root = ET.Element("svg", {
            "xmlns": SVG_NS, "class": "chart", "width": str(WIDTH), "height": str(HEIGHT),
            "viewBox": f"0 0 {WIDTH} {HEIGHT}", "role": "img", "font-family": "sans-serif", "font-size": "11"})
        ET.SubElement(self.root, "title").text = title
        ET.SubElement(self.root, "rect", {"x": "0", "y": "0", "width": str(WIDTH), "height": str(HEIGHT),
                                          "fill": "#ffffff"})
        self._text(LEFT, 20, title, size="13", weight="bold")
        self._text(LEFT + self.plot_w / 2, HEIGHT - 10, x_label, anchor="middle")
        label = self._text(14, TOP + self.plot_h / 2, y_label, anchor="middle")
        label.set("transform", f"rotate(-90 14 {_num(TOP + self.plot_h / 2)})")
        self.legend_rows = 0

    @property
    def plot_w(self) -> float:
        return WIDTH - LEFT - RIGHT

    @property
    def plot_h(self) -> float:
        return HEIGHT - TOP - BOTTOM

    def x(self, value: float) -> float:
        span = self.x1 - self.x0 or 1.0
        return LEFT + (value - self.x0) / span * self.plot_w

    def y(self, value: float) -> float:
        span = self.y1 - self.y0 or 1.0
        return TOP + self.plot_h - (value - self.y0) / span * self.plot_h

    def _text(self, x: float, y: float, text: str, anchor: str = "start", size: str | None = None,
              weight: str | None = None, fill: str = "#222222") -> ET.Element:
        attrs = {"x": _num(x), "y": _num(y), "text-anchor": anchor, "fill": fill}
        if size:
            attrs["font-size"] = size
        if weight:
            attrs["font-weight"] = weight
        element = ET.SubElement(self.root, "text", attrs)
        element.text = text
        return element

    def axes(self, x_ticks: Sequence[tuple[float, str]], y_ticks: Sequence[tuple[float, str]]) -> None:
        grid = {"stroke": "#e3e3e3", "stroke-width": "1"}
        for value, label in y_ticks:
            y = self.y(value)
            ET.SubElement(self.root, "line", {"x1": _num(LEFT), "x2": _num(LEFT + self.plot_w),
                                              "y1": _num(y), "y2": _num(y), **grid})
            self._text(LEFT - 6, y + 4, label, anchor="end")
        bottom = TOP + self.plot_h
        for value, label in x_ticks:
            x = self.x(value)
            ET.SubElement(self.root, "line", {"x1": _num(x), "x2": _num(x), "y1": _num(bottom),
                                              "y2": _num(bottom + 5), "stroke": "#444444"})
            self._text(x, bottom + 18, label, anchor="middle")
        axis = {"stroke": "#444444", "stroke-width": "1"}
        ET.SubElement(self.root, "line", {"x1": _num(LEFT), "x2": _num(LEFT + self.plot_w),
                                          "y1": _num(bottom), "y2": _num(bottom), **axis})
        ET.SubElement(self.root, "line", {"x1": _num(LEFT), "x2": _num(LEFT), "y1": _num(TOP),
                                          "y2": _num(bottom), **axis})

    def reference_x(self, value: float, label: str) -> None:
        """A dashed vertical marker (the 1x line)."""
        x = self.x(value)
        ET.SubElement(self.root, "line", {"x1": _num(x), "x2": _num(x), "y1": _num(TOP),
                                          "y2": _num(TOP + self.plot_h), "stroke": MUTED,
                                          "stroke-dasharray": "4 3"})
        self._text(x + 3, TOP + 10, label, fill=MUTED)

    def legend(self, name: str, color: str, hollow: bool = False) -> None:
        x, y = LEFT + self.plot_w + 14, TOP + 8 + 18 * self.legend_rows
        ET.SubElement(self.root, "rect", {"class": "legend", "x": _num(x), "y": _num(y - 8), "width": "12",
                                          "height": "10", "fill": "none" if hollow else color, "stroke": color})
        self._text(x + 18, y + 1, name)
        self.legend_rows += 1

    def mark(self, tag: str, cls: str, tooltip: str, **attrs: str) -> ET.Element:
        element = ET.SubElement(self.root, tag, {"class": cls, **attrs})
        ET.SubElement(element, "title").text = tooltip
        return element

    def svg(self) -> str:
        return ET.tostring(self.root, encoding="unicode")


def no_data(title: str, detail: str = "no data") -> str:
    """A small placeholder chart that says there is nothing to draw."""
    root = ET.Element("svg", {"xmlns": SVG_NS, "class": "chart empty", "width": str(WIDTH), "height": "80",
                              "viewBox": f"0 0 {WIDTH} 80", "role": "img", "font-family": "sans-serif"})
    ET.SubElement(root, "title").text = title
    ET.SubElement(root, "rect", {"x": "0.5", "y": "0.5", "width": str(WIDTH - 1), "height": "79",
                                 "fill": "#fafafa", "stroke": "#dddddd"})
    text = ET.SubElement(root, "text", {"x": str(WIDTH // 2), "y": "36", "text-anchor": "middle",
                                        "font-size": "13", "font-weight": "bold", "fill": "#222222"})
    text.text = title
    note = ET.SubElement(root, "text", {"x": str(WIDTH // 2), "y": "58", "text-anchor": "middle",
                                        "font-size": "12", "fill": MUTED})
    note.text = detail
    return ET.tostring(root, encoding="unicode")


def _count_ticks(top: int) -> list[tuple[float, str]]:
    step = max(1, math.ceil(top / 5))
    return [(float(v), str(v)) for v in range(0, top + 1, step)]


def _share_ticks() -> list[tuple[float, str]]:
    return [(v / 4, f"{25 * v}%") for v in range(5)]


def _log2_ticks(lo: float, hi: float) -> list[tuple[float, str]]:
    first, last = math.ceil(lo), math.floor(hi)
    step = max(1, math.ceil((last - first + 1) / MAX_LOG2_TICKS))
    return [(float(k), _x_label(k)) for k in range(first, last + 1, step)]


def _linear_ticks(lo: float, hi: float, target: int = 6) -> list[tuple[float, str]]:
    raw = (hi - lo) / target or 1.0
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    ticks, value = [], math.ceil(lo / step) * step
    while value <= hi + step * 1e-9:
        ticks.append((value, f"{value:g}"))
        value += step
    return ticks


def speedup_histogram(series: Mapping[str, Sequence[float]], title: str = "Speedup distribution") -> str:
    """Counts of tasks per speedup bin on a log2 axis, one bar per non-empty bin and series, side by side."""
    logs = {name: [min(max(math.log2(v), -LOG2_CLAMP), LOG2_CLAMP) for v in values if v > 0]
            for name, values in series.items()}
    everything = [v for values in logs.values() for v in values]
    if not everything:
        return no_data(title, "no correct task with a valid speedup")
    lo = min(math.floor(min(everything) / HIST_BIN) * HIST_BIN, -1.0)
    hi = max(math.floor(max(everything) / HIST_BIN) * HIST_BIN + HIST_BIN, 1.0)
    bins = round((hi - lo) / HIST_BIN)
    counts = {name: [0] * bins for name in logs}
    for name, values in logs.items():
        for v in values:
            counts[name][min(int((v - lo) / HIST_BIN), bins - 1)] += 1
    top = max(max(c) for c in counts.values())
    chart = _Chart(title, (lo, hi), (0, top * 1.1), "speedup (log2 axis)", "tasks")
    chart.axes(_log2_ticks(lo, hi), _count_ticks(top))
    chart.reference_x(0.0, "1×")
    slot = (chart.x(lo + HIST_BIN) - chart.x(lo)) / max(1, len(logs))
    for index, (name, per_bin) in enumerate(counts.items()):
        color = _color(name, index)
        chart.legend(name, color)
        for b, count in enumerate(per_bin):
            if not count:
                continue
            left = lo + b * HIST_BIN
            x = chart.x(left) + index * slot
            span = f"[{2 ** left:.3g}×, {2 ** (left + HIST_BIN):.3g}×)"
            chart.mark("rect", "bar", f"{name}: {count} task(s) in {span}",
                       x=_num(x + 1), y=_num(chart.y(count)), width=_num(max(1.0, slot - 2)),
                       height=_num(chart.y(0) - chart.y(count)), fill=color, **{"fill-opacity": "0.85"})
    return chart.svg()


def fast_p_curve(series: Mapping[str, Sequence[float | None]], total: int,
                 marks: Sequence[float] = (0.0, 1.0, 1.2, 1.5, 2.0),
                 title: str = "fast_p against the threshold p") -> str:
    """The share of all `total` tasks that are correct with speedup > p, as a step function of p.

    `series` holds one entry per correct task: its speedup, or None without a valid timing (then it counts at
    p = 0 only, as fast_0 is the correct rate). A point marks each threshold in `marks`."""
    timed = [v for values in series.values() for v in values if v is not None]
    if total <= 0 or not any(series.values()):
        return no_data(title, "no correct task")
    p_max = max(2.5, min(max(timed, default=0.0) * 1.1, 16.0), max(marks) * 1.1)
    chart = _Chart(title, (0.0, p_max), (0.0, 1.0), "threshold p (speedup)", "fast_p (share of all tasks)")
    chart.axes(_linear_ticks(0.0, p_max), _share_ticks())
    chart.reference_x(1.0, "p = 1")
    for index, (name, values) in enumerate(series.items()):
        color = _color(name, index)
        chart.legend(name, color)
        speedups = sorted(v for v in values if v is not None)
        shares = {p: _fast_share(values, p, total) for p in (0.0, *speedups, *marks)}
        path = [f"M{_num(chart.x(0.0))} {_num(chart.y(shares[0.0]))}",
                f"V{_num(chart.y(sum(1 for v in speedups if v > 0) / total))}"]
        for v in (v for v in speedups if v < p_max):
            path.append(f"H{_num(chart.x(v))} V{_num(chart.y(shares[v]))}")
        path.append(f"H{_num(chart.x(p_max))}")
        ET.SubElement(chart.root, "path", {"class": "line", "d": " ".join(path), "fill": "none",
                                           "stroke": color, "stroke-width": "2"})
        for p in marks:
            chart.mark("circle", "point", f"{name}: fast_{p:g} = {shares[p]:.1%}", cx=_num(chart.x(p)),
                       cy=_num(chart.y(shares[p])), r="3.5", fill=color)
    return chart.svg()


def _fast_share(values: Sequence[float | None], p: float, total: int) -> float:
    """fast_p of one series: every correct task at p = 0, else those with a speedup above p."""
    return (len(values) if p == 0 else sum(1 for v in values if v is not None and v > p)) / total


def fast_p_by_round(by_round: Mapping[str, Mapping[str, float]], title: str = "fast_p (vs eager) by round") -> str:
    """One line per threshold p: the share of tasks solved above p by the end of each round."""
    rounds = sorted((int(r), values) for r, values in by_round.items() if values)
    if not rounds:
        return no_data(title, "no rounds recorded")
    ps = sorted({p for _, values in rounds for p in values}, key=float)
    first, last = rounds[0][0], rounds[-1][0]
    lo, hi = (first - 0.5, last + 0.5) if first == last else (first, last)
    chart = _Chart(title, (lo, hi), (0.0, 1.0), "round", "fast_p (share of all tasks)")
    step = max(1, math.ceil((last - first + 1) / 12))
    chart.axes([(float(r), str(r)) for r in range(first, last + 1, step)], _share_ticks())
    for index, p in enumerate(ps):
        color = PALETTE[index % len(PALETTE)]
        chart.legend(f"p = {p}", color)
        points = [(r, values[p]) for r, values in rounds if p in values]
        ET.SubElement(chart.root, "polyline", {
            "class": "line", "fill": "none", "stroke": color, "stroke-width": "2",
            "points": " ".join(f"{_num(chart.x(r))},{_num(chart.y(v))}" for r, v in points)})
        for r, v in points:
            chart.mark("circle", "point", f"round {r}: fast_{p} = {v:.1%}", cx=_num(chart.x(r)),
                       cy=_num(chart.y(v)), r="3.5", fill=color)
    return chart.svg()


def cost_vs_speedup(points: Sequence[tuple[str, float, float | None]],
                    title: str = "Cost against speedup per task") -> str:
    """One marker per (task, dollars, speedup vs eager); tasks without a speedup sit on a strip at the bottom."""
    if not points:
        return no_data(title, "no tasks")
    logs = [math.log2(s) for _, _, s in points if s is not None and s > 0]
    lo = math.floor(min(logs + [-1.0]))
    hi = math.ceil(max(logs + [1.0]))
    strip = lo - 0.6  # below the axis range: where the tasks without a speedup go
    top_cost = max(cost for _, cost, _ in points) or 1e-6
    chart = _Chart(title, (0.0, top_cost * 1.08), (strip - 0.3, hi), "LLM cost per task (USD)", "speedup vs eager")
    chart.axes(_linear_ticks(0.0, top_cost * 1.08), _log2_ticks(lo, hi) + [(strip, "none")])
    chart.legend("correct, timed", PALETTE[0])
    chart.legend("no speedup", MUTED, hollow=True)
    one = chart.y(0.0)
    ET.SubElement(chart.root, "line", {"x1": _num(LEFT), "x2": _num(LEFT + chart.plot_w), "y1": _num(one),
                                       "y2": _num(one), "stroke": MUTED, "stroke-dasharray": "4 3"})
    for task, cost, speedup in points:
        x = _num(chart.x(cost))
        if speedup is not None and speedup > 0:
            chart.mark("circle", "point", f"{task}: {speedup:.2f}× for ${cost:.4f}", cx=x,
                       cy=_num(chart.y(math.log2(speedup))), r="4", fill=PALETTE[0], **{"fill-opacity": "0.8"})
        else:
            chart.mark("circle", "point", f"{task}: no speedup, ${cost:.4f}", cx=x, cy=_num(chart.y(strip)),
                       r="4", fill="none", stroke=MUTED, **{"stroke-width": "1.5"})
    return chart.svg()


def spend_curves(series: Mapping[str, Sequence[tuple[float, float]]], title: str, x_label: str, y_label: str,
                 share: bool = False) -> str:
    """One line per run through its (spend, value) points, e.g. dollars against the best geomean found so far;
    `share`: the value is a share of tasks (0..1, percent ticks)."""
    points = [p for values in series.values() for p in values]
    if not points:
        return no_data(title, "no Coder calls recorded")
    x_hi = max(x for x, _ in points) or 1.0
    y_lo = 0.0 if share else min(0.0, min(y for _, y in points))
    y_hi = 1.0 if share else max(1.0, max(y for _, y in points)) * 1.1
    chart = _Chart(title, (0.0, x_hi * 1.05), (y_lo, y_hi), x_label, y_label)
    chart.axes(_linear_ticks(0.0, x_hi * 1.05), _share_ticks() if share else _linear_ticks(y_lo, y_hi, 5))
    for index, (name, values) in enumerate(series.items()):
        color = PALETTE[index % len(PALETTE)]
        chart.legend(name, color)
        ET.SubElement(chart.root, "polyline", {
            "class": "line", "fill": "none", "stroke": color, "stroke-width": "2",
            "points": " ".join(f"{_num(chart.x(x))},{_num(chart.y(y))}" for x, y in values)})
        for x, y in values:
            shown = f"{y:.1%}" if share else f"{y:.3g}"
            chart.mark("circle", "point", f"{name}: {shown} at {x:g}", cx=_num(chart.x(x)), cy=_num(chart.y(y)),
                       r="3", fill=color)
    return chart.svg()
