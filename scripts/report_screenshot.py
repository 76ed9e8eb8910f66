"""Look at a run report as a reader does: a full-page screenshot in headless Chromium, and
how large every figure is drawn there.

    python scripts/report_screenshot.py RUN_OR_REPORT_DIR [--out report.png] [--width 1200]

writes ``report.png`` (the whole page at 100 % zoom, trailing blank space cut) next to
``report.html`` and prints, per figure, its pixel size and the share of it the page
shows at that window width (below 100 % a figure is scaled down). Needs the Debian
package ``chromium`` (``apt-get install chromium``). ``make report-screenshot RUN=...``
runs it.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
#: appended to the page: a JSON list of the figures as laid out
MEASURE = """<script>
window.addEventListener("load", () => {
  const out = [...document.images].map(im => ({
    alt: im.alt, natural: im.naturalWidth, shown: im.getBoundingClientRect().width}));
  const pre = document.createElement("pre");
  pre.id = "pathfer-measure";
  pre.textContent = JSON.stringify({images: out,
    page_width: document.documentElement.scrollWidth,
    page_height: document.documentElement.scrollHeight});
  document.body.appendChild(pre);
});
</script>"""


def browser() -> str | None:
    return next((b for b in map(shutil.which, BROWSERS) if b), None)


def _run(args: list[str]) -> subprocess.CompletedProcess:
    exe = browser()
    if exe is None:
        raise FileNotFoundError("no chromium found; install it with `apt-get install chromium`")
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True)


def measure(html: Path, width: int = 1200) -> dict:
    """Lay the page out at ``width`` pixels: every figure's natural and shown width, and
    the page's scroll width and height."""
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "page.html"
        page.write_text(html.read_text(encoding="utf-8").replace("</body>", MEASURE + "</body>"))
        window = f"--window-size={width},900"
        res = _run([window, "--virtual-time-budget=5000", "--dump-dom", page.as_uri()])
    found = re.search(r'<pre id="pathfer-measure">(.*?)</pre>', res.stdout, re.S)
    if not found:
        raise RuntimeError("the page did not finish loading in Chromium")
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))


def screenshot(html: Path, out: Path, width: int = 1200) -> Path:
    """A full-page PNG of ``html`` at ``width`` pixels, trailing blank rows cut."""
    from matplotlib import image

    height = int(measure(html, width)["page_height"]) + 40
    _run([f"--window-size={width},{height}", f"--screenshot={out}", html.resolve().as_uri()])
    pixels = image.imread(out)
    rows = np.flatnonzero((pixels[..., :3] < 0.98).any(axis=(1, 2)))
    if rows.size:
        image.imsave(out, pixels[: rows[-1] + 20])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a folder holding report.html (or the file)")
    parser.add_argument("--out", type=Path, help="PNG to write (default: next to the report)")
    parser.add_argument("--width", type=int, default=1200, help="window width in pixels")
    args = parser.parse_args(argv)
    html = args.run if args.run.suffix == ".html" else args.run / "report.html"
    if not html.is_file():
        print(f"{html}: no report here; run `pathfer report RUN` first", file=sys.stderr)
        return 2
    if browser() is None:
        print("no chromium found; install it with `apt-get install chromium`", file=sys.stderr)
        return 2
    out = screenshot(html, args.out or html.with_suffix(".png"), args.width)
    layout = measure(html, args.width)
    print(f"screenshot: {out} (page {layout['page_width']} x {layout['page_height']} px)")
    for im in layout["images"]:
        share = im["shown"] / im["natural"] if im["natural"] else 0.0
        print(f"  {share:6.0%} of {im['natural']:5d} px  {im['alt']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
