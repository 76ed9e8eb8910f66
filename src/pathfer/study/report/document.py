"""A small document model rendered to both Markdown and self-contained HTML.

Blocks are headings, paragraphs, bullet lists, tables, code, and figures (one, or a row of
figures side by side). Markdown links figures by relative path; HTML embeds them as
base64 PNG, so ``report.html`` is a single file to mail or archive.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

CSS = (
    "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;"
    "padding:0 1em;color:#222;line-height:1.4}table{border-collapse:collapse;margin:1em 0;"
    "font-size:0.9em}th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}"
    "th:first-child,td:first-child{text-align:left}thead{background:#f2f2f2}"
    "pre{background:#f6f6f6;padding:0.8em;overflow-x:auto}"
    "img{max-width:100%}figure{margin:1em 0}figcaption{font-size:0.85em;color:#555}"
    ".row{display:flex;flex-wrap:wrap;gap:1em;align-items:flex-start}"
    ".row figure{margin:0.5em 0}"
)


@dataclass(frozen=True)
class Image:
    """A PNG with its caption and its path relative to the Markdown file."""

    caption: str
    png: bytes
    src: str


class Document:
    """Blocks in order; :meth:`markdown` and :meth:`html` render the same content."""

    def __init__(self) -> None:
        self.blocks: list[tuple[Any, ...]] = []

    def h(self, level: int, text: str) -> None:
        self.blocks.append(("h", level, text))

    def p(self, text: str) -> None:
        self.blocks.append(("p", text))

    def bullets(self, items: Sequence[str]) -> None:
        self.blocks.append(("ul", list(items)))

    def table(self, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        self.blocks.append(("table", list(header), [list(map(str, r)) for r in rows]))

    def code(self, text: str, lang: str = "") -> None:
        self.blocks.append(("code", text, lang))

    def img(self, caption: str, png: bytes, src: str) -> None:
        self.blocks.append(("row", [Image(caption, png, src)]))

    def img_row(self, images: Sequence[Image]) -> None:
        """Figures side by side (they wrap on a narrow window)."""
        self.blocks.append(("row", list(images)))

    # ------------------------------------------------------------------ Markdown
    def markdown(self) -> str:
        out = [_md_block(b) for b in self.blocks]
        return "\n\n".join(out) + "\n"

    # ---------------------------------------------------------------------- HTML
    def html(self, title: str) -> str:
        body = "\n".join(_html_block(b) for b in self.blocks)
        return (
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>\n"
            + body
            + "\n</body></html>\n"
        )


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _md_block(b: tuple[Any, ...]) -> str:
    kind = b[0]
    if kind == "h":
        return "#" * b[1] + " " + b[2]
    if kind == "p":
        return b[1]
    if kind == "ul":
        return "\n".join(f"- {item}" for item in b[1])
    if kind == "table":
        lines = [
            "| " + " | ".join(_md_cell(c) for c in b[1]) + " |",
            "|" + "|".join("---" for _ in b[1]) + "|",
        ]
        lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in b[2]]
        return "\n".join(lines)
    if kind == "code":
        fence = "````" if "```" in b[1] else "```"
        return f"{fence}{b[2]}\n{b[1].rstrip()}\n{fence}"
    if kind == "row":
        return "\n".join(f"![{im.caption}]({im.src})" for im in b[1])
    raise ValueError(f"unknown block {kind!r}")


def _figure(im: Image) -> str:
    esc = html.escape
    data = base64.b64encode(im.png).decode("ascii")
    return (
        f'<figure><img alt="{esc(im.caption)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{_inline_html(im.caption)}</figcaption></figure>"
    )


def _html_block(b: tuple[Any, ...]) -> str:
    kind = b[0]
    if kind == "h":
        return f"<h{b[1]}>{html.escape(b[2])}</h{b[1]}>"
    if kind == "p":
        return f"<p>{_inline_html(b[1])}</p>"
    if kind == "ul":
        return "<ul>" + "".join(f"<li>{_inline_html(i)}</li>" for i in b[1]) + "</ul>"
    if kind == "table":
        head = "".join(f"<th>{_inline_html(c)}</th>" for c in b[1])
        rows = "".join(
            "<tr>" + "".join(f"<td>{_inline_html(c)}</td>" for c in r) + "</tr>" for r in b[2]
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
    if kind == "code":
        return f"<pre><code>{html.escape(b[1].rstrip())}</code></pre>"
    if kind == "row":
        figures = "".join(_figure(im) for im in b[1])
        return figures if len(b[1]) == 1 else f'<div class="row">{figures}</div>'
    raise ValueError(f"unknown block {kind!r}")


def _inline_html(text: str) -> str:
    """Escape, then render Markdown ``**bold**`` and ``code`` spans."""
    out = html.escape(str(text))
    parts = out.split("**")
    if len(parts) % 2:
        out = "".join(f"<b>{p}</b>" if i % 2 else p for i, p in enumerate(parts))
    parts = out.split("`")
    if len(parts) % 2:
        out = "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))
    return out
