"""The results pages: each results folder's index.html is current (lists every figure and table
there is) and, loaded in a real headless browser (Debian's chromium), shows every image."""
import glob
import os
import re
import shutil
import subprocess

import pytest

from awd import pages

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
RESULTS = sorted(glob.glob(os.path.join(ROOT, "experiments", "*", "results*")))
CHROMIUM = shutil.which("chromium")


# One browser for every page: an outer page holds each index.html in an iframe and, once all have
# loaded, copies each one's marks into its own body (file:// pages may read each other only with
# --allow-file-access-from-files).
OUTER = """<!DOCTYPE html><html><body>%s<script>
window.addEventListener('load', () => {
  document.body.dataset.result = Array.from(document.querySelectorAll('iframe')).map(f => {
    const d = f.contentDocument.body.dataset;
    return [f.getAttribute('src'), d.checked, d.images, d.broken].join(';');
  }).join('|');
});
</script></body></html>"""


def marks_in_browser(pages_to_load, scratch):
    outer = scratch / "all.html"
    outer.write_text(OUTER % "".join(f'<iframe src="file://{os.path.abspath(p)}"></iframe>' for p in pages_to_load))
    dom = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files", "--virtual-time-budget=5000",
                          "--dump-dom", f"file://{outer}"], capture_output=True, text=True, timeout=120).stdout
    result = re.search(r'data-result="([^"]*)"', dom)
    assert result, "the browser returned no marks: " + dom[:300]
    marks = {}
    for entry in result.group(1).split("|"):
        src, checked, images, broken = entry.split(";")
        marks[src[len("file://"):]] = {"checked": checked, "images": images, "broken": broken}
    return marks


def test_every_results_folder_has_a_current_index():
    assert len(RESULTS) >= 4
    for folder in RESULTS:
        with open(os.path.join(folder, "index.html"), encoding="utf-8") as f:
            assert f.read() == pages.index_html(folder), f"{folder}/index.html is out of date: make pages"


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (make deps-test)")
def test_every_image_loads_in_a_headless_browser(tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    shutil.copy(glob.glob(os.path.join(RESULTS[0], "*.png"))[0], broken / "drawn.png")
    (broken / "removed.png").write_bytes(b"")
    pages.write_index(broken)
    (broken / "removed.png").unlink()  # the page names a figure that is gone: the check must see it
    index = {folder: os.path.abspath(os.path.join(folder, "index.html")) for folder in RESULTS + [str(broken)]}
    marks = marks_in_browser(index.values(), tmp_path)
    marks = {folder: marks[page] for folder, page in index.items()}
    for folder in RESULTS:
        figures = glob.glob(os.path.join(folder, "*.png"))
        assert marks[folder].get("checked") == "yes", folder
        assert marks[folder]["images"] == str(len(figures)), folder
        assert marks[folder]["broken"] == "", f"{folder}: images that did not load: {marks[folder]['broken']}"
    assert marks[str(broken)] == {"images": "2", "broken": "removed.png", "checked": "yes"}
