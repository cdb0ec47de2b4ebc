"""A static index.html per results folder: every figure (PNG, with its SVG and PDF when drawn) and
every table (CSV as an HTML table, Markdown tables as HTML tables), nothing fetched from elsewhere.

    /usr/bin/python3 -m awd.pages experiments/aw/results experiments/gan/results ...   (make pages)

The page marks itself once loaded: <body data-checked="yes" data-images="N" data-broken="a.png b.png">,
so that a headless browser can say whether every image loaded (python/tests/test_pages.py).
Not a Markdown renderer: headings, paragraphs and pipe tables only.
"""
import csv
import html
import os
import sys

CHECK_SCRIPT = """<script>
window.addEventListener('load', () => {
  const images = Array.from(document.images);
  const broken = images.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.getAttribute('src'));
  document.body.dataset.images = images.length;
  document.body.dataset.broken = broken.join(' ');
  document.body.dataset.checked = 'yes';
});
</script>"""

STYLE = """<style>
body { font-family: sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
img { max-width: 100%; border: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.85em; }
td, th { border: 1px solid #ccc; padding: 0.2em 0.5em; text-align: right; }
th { background: #f0f0f0; }
figure { margin: 0 0 2em; }
figcaption { font-size: 0.9em; color: #555; }
</style>"""


def _table(rows):
    if not rows:
        return ""
    head = "".join(f"<th>{html.escape(c.strip())}</th>" for c in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c.strip())}</td>" for c in row) + "</tr>\n" for row in rows[1:])
    return f"<table>\n<tr>{head}</tr>\n{body}</table>\n"


def _markdown(text):
    out, table, paragraph = [], [], []

    def flush():
        if table:
            rows = [r for r in table if not set(r.replace("|", "").strip()) <= set("-: ")]
            out.append(_table([r.strip().strip("|").split("|") for r in rows]))
            table.clear()
        if paragraph:
            out.append(f"<p>{html.escape(' '.join(paragraph))}</p>\n")
            paragraph.clear()

    for line in text.splitlines():
        if line.lstrip().startswith("|"):
            if paragraph:
                flush()
            table.append(line)
            continue
        flush()
        if line.startswith("#"):
            level = min(len(line) - len(line.lstrip("#")) + 2, 6)
            out.append(f"<h{level}>{html.escape(line.lstrip('#').strip())}</h{level}>\n")
        elif line.strip():
            paragraph.append(line.strip())
    flush()
    return "".join(out)


def index_html(folder):
    """The page for one folder, as text (the files are listed in name order)."""
    names = sorted(os.listdir(folder))
    title = "/".join(os.path.abspath(folder).split(os.sep)[-2:])  # e.g. aw/results
    parts = [f"<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{html.escape(title)}</title>\n{STYLE}\n"
             f"{CHECK_SCRIPT}\n</head>\n<body>\n<h1>{html.escape(title)}</h1>\n"]
    figures = [n for n in names if n.endswith(".png")]
    tables = [n for n in names if n.endswith(".csv") or n.endswith(".md")]
    if figures:
        parts.append("<h2>Figures</h2>\n")
    for name in figures:
        stem = name[:-4]
        vector = [f'<a href="{html.escape(stem + ext)}">{ext[1:].upper()}</a>' for ext in (".svg", ".pdf") if stem + ext in names]
        caption = html.escape(name) + (" (vector: " + ", ".join(vector) + ")" if vector else "")
        parts.append(f'<figure id="{html.escape(stem)}">\n<img src="{html.escape(name)}" alt="{html.escape(stem)}">\n'
                     f"<figcaption>{caption}</figcaption>\n</figure>\n")
    if tables:
        parts.append("<h2>Tables</h2>\n")
    for name in tables:
        with open(os.path.join(folder, name), encoding="utf-8") as f:
            text = f.read()
        parts.append(f'<h3 id="{html.escape(name)}"><a href="{html.escape(name)}">{html.escape(name)}</a></h3>\n')
        parts.append(_table(list(csv.reader(text.splitlines()))) if name.endswith(".csv") else _markdown(text))
    parts.append("</body>\n</html>\n")
    return "".join(parts)


def write_index(folder):
    """Writes folder/index.html (atomically) and returns its path."""
    path = os.path.join(folder, "index.html")
    temporary = f"{path}.tmp.{os.getpid()}"
    with open(temporary, "w", encoding="utf-8") as f:
        f.write(index_html(folder))
    os.replace(temporary, path)
    return path


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: python3 -m awd.pages FOLDER...")
    for folder in sys.argv[1:]:
        print(write_index(folder))
