"""RD plots sized for a paper, their files, and picture grids whose captions fit."""

import re

import pytest
from PIL import Image, ImageFont

from discover_core.evaluate.curves import Curve
from discover_core.evaluate.plots import rd_figure, write_plots
from discover_core.pictures import picture_grid, wrap


def curves():
    pts = [{"bpp": b, "psnr": p, "t/h/agreement": a}
           for b, p, a in ((0.1, 28.0, 0.5), (0.3, 31.0, 0.8), (0.9, 34.0, 1.0))]
    return [Curve("baselines: entropy_model=avif", "r", "full", points=pts),
            Curve("rate-sweep", "r", "full", points=[{**p, "bpp": p["bpp"] * 2} for p in pts]),
            Curve("rate-sweep", "r", "task:t", points=[{**p, "bpp": p["bpp"] / 2} for p in pts])]


@pytest.mark.parametrize("width,inches", [("column", 3.5), ("page", 7.0)])
def test_plots_are_paper_wide_with_the_legend_outside_the_axes(width, inches):
    fig = rd_figure(curves(), "psnr", width)
    assert fig.get_size_inches()[0] == pytest.approx(inches)
    fig.draw_without_rendering()
    ax, legend = fig.axes[0], fig.legends[0]
    box, lbox = ax.get_window_extent(), legend.get_window_extent()
    assert not box.overlaps(lbox), "the legend is outside the axes"
    assert lbox.x1 <= fig.bbox.x1 + 1 and lbox.y0 >= -1, "and inside the figure"
    assert ax.get_xlabel() == "rate (bpp)" and ax.get_ylabel() == "PSNR (dB)"
    lines = ax.get_lines()
    assert [ln.get_marker() for ln in lines][1] == lines[2].get_marker() != lines[0].get_marker(), \
        "one marker per method, shared by its streams"
    assert [ln.get_linestyle() for ln in lines] == ["-", "-", "--"], "a task's part is dashed"


def test_task_metrics_are_percent_and_bpp_can_be_logarithmic():
    fig = rd_figure(curves(), "t/h/agreement", "page", log_bpp=True)
    ax = fig.axes[0]
    assert ax.get_ylabel() == "agreement (%)" and ax.get_title(loc="left") == "t/h"
    assert list(ax.get_lines()[0].get_ydata()) == [50.0, 80.0, 100.0] and ax.get_xscale() == "log"
    assert rd_figure(curves(), "fid", "page") is None


def test_every_plot_is_written_as_png_pdf_and_svg(tmp_path):
    files = write_plots(curves(), "psnr", tmp_path)
    assert files == {w: [f"plots/rd-psnr-{w}.{f}" for f in ("png", "pdf", "svg")] for w in ("column", "page")}
    with Image.open(tmp_path / "plots" / "rd-psnr-column.png") as png:
        assert png.width == pytest.approx(3.5 * 200, abs=2)
    pdf = (tmp_path / "plots" / "rd-psnr-page.pdf").read_bytes()
    box = re.search(rb"/MediaBox \[\s*0 0 ([\d.]+) ([\d.]+)", pdf)
    assert float(box.group(1)) == pytest.approx(7 * 72), "7 in wide"
    again = tmp_path / "again"
    write_plots(curves(), "psnr", again)
    assert (again / "plots" / "rd-psnr-page.pdf").read_bytes() == pdf, "no date in the file: same figure, same bytes"
    assert not list(tmp_path.rglob("*.tmp"))


def test_captions_wrap_to_their_picture_and_nothing_is_cut():
    font = ImageFont.load_default(size=13)
    text = "entropy_model=jpeg, quality=20, background_side=128\n0.123 bpp"
    lines = wrap(text, font, 90)
    assert " ".join(lines).replace(" ", "") == text.replace("\n", "").replace(" ", "")
    assert all(font.getlength(line) <= 90 for line in lines) and lines[-1] == "0.123 bpp"
    narrow = Image.new("RGB", (100, 100), (200, 0, 0))
    grid = picture_grid([("a heading", [(text, narrow)] * 3), ("", [("x", narrow)])], height=100)
    assert grid.width == 3 * 100 + 2 * 8
    one_line = picture_grid([("", [("x", narrow)])], height=100)
    assert grid.height > one_line.height + 100 + len(lines) * 13, "the wrapped caption's lines are all there"
