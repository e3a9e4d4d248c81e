"""report.html: the analysis report as one self-contained page (figures embedded), as the MLflow UI shows it.

MLflow 3.17's Markdown viewer draws an image only from an absolute http(s) address, so report.md's figures
cannot show there whatever the links; its HTML viewer shows a page as it is. Every image the report links
inside its own folder is embedded as a data: URI, so the page needs nothing beside it: opened from the
artifact viewer, downloaded, or mailed.
"""

from __future__ import annotations

import base64
import html
import mimetypes
from pathlib import Path

from markdown_it import MarkdownIt

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 70em; margin: 1.5em auto;
       padding: 0 1em; color: #222; line-height: 1.45; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
thead th { background: #f2f2f2; }
img { max-width: 100%; height: auto; display: block; margin: 0.6em 0; }
code { background: #f4f4f4; padding: 0 0.2em; border-radius: 3px; }
"""


def _embedded(src: str, folder: Path) -> str | None:
    """A data: URI of the file `src` names inside `folder`; None for anything else (kept as written)."""
    if not src or "://" in src or src.startswith(("data:", "/", "#")):
        return None
    path = (folder / src).resolve()
    try:
        path.relative_to(folder.resolve())
    except ValueError:
        return None  # a report never embeds a file outside its own folder
    if not path.is_file():
        return None
    kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return f"data:{kind};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def markdown_to_html(markdown: str, folder: str | Path, title: str) -> str:
    """The page for a report whose relative image links point into `folder`: every such image embedded."""
    folder = Path(folder)
    renderer = MarkdownIt("commonmark", {"html": False}).enable("table")
    default_image = renderer.renderer.rules.get("image")

    def image(self, tokens, index, options, env):
        token = tokens[index]
        embedded = _embedded(token.attrGet("src") or "", folder)
        if embedded is not None:
            token.attrSet("src", embedded)
        return default_image(tokens, index, options, env)

    renderer.add_render_rule("image", image)
    body = renderer.render(markdown)
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{html.escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}</body>\n</html>\n")


def write_html_report(markdown_path: str | Path, html_path: str | Path | None = None) -> Path:
    """Write the self-contained HTML page of a report.md (beside it by default); its path."""
    markdown_path = Path(markdown_path)
    html_path = Path(html_path) if html_path else markdown_path.with_suffix(".html")
    text = markdown_path.read_text()
    title = next((line[2:].strip() for line in text.splitlines() if line.startswith("# ")), "Analysis")
    html_path.write_text(markdown_to_html(text, markdown_path.parent, title))
    return html_path
