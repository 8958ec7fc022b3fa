#!/usr/bin/env python3
"""Draws the size/accuracy trade-off of the compressed model sets as an SVG.

Reads the two "Size against accuracy" tables of models/README.md (GPTQ and nearest rounding),
takes each row's bytes, line CER and hmean, and plots the change against that table's fp32
reference (the GPTQ table's fp32 row; the fp32 figures the nearest-rounding table's
introduction states: the tables were measured at different pipeline states)
in two panels, with the issue's bounds (line CER +0.5 point, hmean -1 point) and the 1/10 size
goal (1.62 MB). Standard library only.

Usage: python3 models/plot_size_accuracy.py [README] [OUT.svg]
"""
import re
import sys
from html import escape
from pathlib import Path

HERE = Path(__file__).resolve().parent
GOAL_BYTES = 16_189_007 / 10
CER_BOUND, HMEAN_BOUND = 0.5, -1.0


def table_after(text, title):
    """The rows (lists of cells) of the first Markdown table after `title`."""
    rest = text[text.index(title):]
    lines = rest.splitlines()
    start = next(i for i, l in enumerate(lines) if l.startswith("|"))
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        cells = [c.strip().strip("*") for c in line.strip("|").split("|")]
        if not set(cells[0]) <= set("-: "):
            rows.append(cells)
    return rows[0], rows[1:]


def number(cell):
    return float(cell.replace(",", "").rstrip("%"))


def points(text, title, fp32_line_cer, fp32_hmean):
    """(label, MB, line CER change, hmean change) of each row of a table."""
    header, rows = table_after(text, title)
    col = {name: i for i, name in enumerate(header)}
    out = []
    for r in rows:
        out.append((
            r[0],
            number(r[col["bytes"]]) / 1e6,
            number(r[col["line CER %"]]) - fp32_line_cer,
            number(r[col["hmean %"]]) - fp32_hmean,
        ))
    return out


def main():
    readme = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "README.md"
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else HERE / "size-accuracy.svg"
    text = readme.read_text()
    gptq = points(text, "**Size against accuracy with GPTQ**", 0, 0)
    fp32 = next(p for p in gptq if p[0].startswith("fp32"))
    gptq = [(l, mb, c - fp32[2], h - fp32[3]) for l, mb, c, h in gptq if l != fp32[0]]
    # The nearest-rounding table states its fp32 reference in its introduction.
    intro = text[text.index("**Size against accuracy, nearest rounding**"):]
    ref = re.search(r"line CER ([\d.]+),\s*hmean ([\d.]+)", intro)
    nearest = points(text, "**Size against accuracy, nearest rounding**",
                     float(ref.group(1)), float(ref.group(2)))
    # The GPTQ table starts with the int8 default, rounded to nearest like the other table,
    # and ends with quantisation-aware training.
    nearest += [p for p in gptq if "nearest" in p[0] and "QAT" not in p[0]]
    qat = [p for p in gptq if "QAT" in p[0]]
    gptq = [p for p in gptq if "nearest" not in p[0] and "QAT" not in p[0]]
    committed = [p for p in gptq if "(committed" in p[0]]

    W, H = 790, 330
    panels = [
        ("line CER change vs fp32 (points)", 2, (-1.5, 3.0), CER_BOUND, "up"),
        ("hmean change vs fp32 (points)", 3, (-3.0, 1.0), HMEAN_BOUND, "down"),
    ]
    x_lo, x_hi = 1.0, 8.0
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
           f'font-family="sans-serif" font-size="11">',
           f'<rect width="{W}" height="{H}" fill="white"/>']
    pw, ph, top = 300, 220, 40
    for k, (title, idx, (y_lo, y_hi), bound, worse) in enumerate(panels):
        left = 60 + k * 370
        def sx(mb):
            return round(left + (min(max(mb, x_lo), x_hi) - x_lo) / (x_hi - x_lo) * pw, 1)

        def sy(v):
            return round(top + ph - (min(max(v, y_lo), y_hi) - y_lo) / (y_hi - y_lo) * ph, 1)

        svg.append(f'<text x="{left + pw / 2}" y="{top - 12}" text-anchor="middle" '
                   f'font-weight="bold">{title}</text>')
        # The acceptable region: within the accuracy bound and under the size goal.
        y0, y1 = (sy(bound), sy(y_lo)) if worse == "up" else (sy(y_hi), sy(bound))
        svg.append(f'<rect x="{sx(x_lo)}" y="{min(y0, y1)}" width="{sx(GOAL_BYTES / 1e6) - sx(x_lo)}" '
                   f'height="{abs(y1 - y0)}" fill="#e3f4e3"/>')
        svg.append(f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#444"/>')
        for mb in range(1, 9):
            svg.append(f'<line x1="{sx(mb)}" y1="{top + ph}" x2="{sx(mb)}" y2="{top + ph + 4}" stroke="#444"/>')
            svg.append(f'<text x="{sx(mb)}" y="{top + ph + 16}" text-anchor="middle">{mb}</text>')
        step = 0.5 if y_hi - y_lo <= 5 else 1.0
        v = y_lo
        while v <= y_hi + 1e-9:
            svg.append(f'<line x1="{left - 4}" y1="{sy(v)}" x2="{left}" y2="{sy(v)}" stroke="#444"/>')
            svg.append(f'<text x="{left - 7}" y="{sy(v) + 4}" text-anchor="end">{v:+.1f}</text>')
            v += step
        svg.append(f'<text x="{left + pw / 2}" y="{top + ph + 32}" text-anchor="middle">'
                   f'det + rec + cls, MB</text>')
        svg.append(f'<line x1="{left}" y1="{sy(0)}" x2="{left + pw}" y2="{sy(0)}" stroke="#999"/>')
        svg.append(f'<line x1="{left}" y1="{sy(bound)}" x2="{left + pw}" y2="{sy(bound)}" '
                   f'stroke="#2a8a2a" stroke-dasharray="4 3"/>')
        gx = sx(GOAL_BYTES / 1e6)
        svg.append(f'<line x1="{gx}" y1="{top}" x2="{gx}" y2="{top + ph}" stroke="#2a8a2a" '
                   f'stroke-dasharray="4 3"/>')
        svg.append(f'<text x="{gx + 3}" y="{top + 12}" fill="#2a8a2a">goal 1.62 MB</text>')
        series_styles = ((nearest, "#999", "circle"), (gptq, "#1f5fbf", "square"),
                         (qat, "#e07b00", "square"))
        for series, colour, shape in series_styles:
            for p in series:
                x, v = sx(p[1]), p[idx]
                y = sy(v)
                off = not (y_lo <= v <= y_hi)
                label = f"{p[0]}: {p[1]:.2f} MB, {v:+.2f}"
                if shape == "circle":
                    mark = f'<circle cx="{x}" cy="{y}" r="4" fill="{colour}"'
                else:
                    mark = f'<rect x="{x - 4}" y="{y - 4}" width="8" height="8" fill="{colour}"'
                if off:
                    mark += ' fill-opacity="0.35"'
                    label += " (off scale)"
                tag = "circle" if shape == "circle" else "rect"
                svg.append(f"{mark}><title>{escape(label)}</title></{tag}>")
        for p in committed:
            x, y = sx(p[1]), sy(p[idx])
            svg.append(f'<circle cx="{x}" cy="{y}" r="8" fill="none" stroke="#d22" stroke-width="2"/>')
    legend_y = H - 18
    svg += [
        f'<circle cx="40" cy="{legend_y}" r="4" fill="#999"/>',
        f'<text x="50" y="{legend_y + 4}">nearest rounding</text>',
        f'<rect x="156" y="{legend_y - 4}" width="8" height="8" fill="#1f5fbf"/>',
        f'<text x="170" y="{legend_y + 4}">GPTQ (fixed or per-layer bits)</text>',
        f'<rect x="346" y="{legend_y - 4}" width="8" height="8" fill="#e07b00"/>',
        f'<text x="360" y="{legend_y + 4}">QAT</text>',
        f'<circle cx="400" cy="{legend_y}" r="7" fill="none" stroke="#d22" stroke-width="2"/>',
        f'<text x="412" y="{legend_y + 4}">committed compact set</text>',
        f'<rect x="545" y="{legend_y - 6}" width="12" height="12" fill="#e3f4e3"/>',
        f'<text x="562" y="{legend_y + 4}">the issue\'s bounds</text>',
        f'<text x="680" y="{legend_y + 4}" fill="#888">faded: off scale</text>',
        "</svg>",
    ]
    out.write_text("\n".join(svg) + "\n")
    print(f"{out}: {len(gptq)} GPTQ, {len(qat)} QAT and {len(nearest)} nearest-rounding points")


if __name__ == "__main__":
    main()
