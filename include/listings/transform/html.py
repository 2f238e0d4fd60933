"""HTML fragments (descriptions, titles from CMSs and APIs) to plain text: tags dropped, entities decoded,
paragraphs kept apart by a blank line, other blocks and <br> by a line break, list items as "- " lines,
scripts and styles dropped."""

from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser

BLOCK_TAGS = frozenset({
    "address", "article", "aside", "blockquote", "dd", "div", "dl", "dt", "figcaption", "figure", "footer",
    "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav", "ol", "p", "pre", "section",
    "table", "tbody", "td", "th", "thead", "tr", "ul",
})  # fmt: skip
PARAGRAPH_TAGS = frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "table", "ul", "ol"})
SKIP_TAGS = frozenset({"script", "style", "noscript", "template", "iframe", "svg"})
_INLINE_WS = re.compile(r"\s+")


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def _break(self, lines: int) -> None:
        # Nested blocks must not pile up blank lines: top up to `lines` line breaks, never more.
        tail = "".join(self.parts[-4:]).rstrip(" ")
        have = len(tail) - len(tail.rstrip("\n")) if tail or not self.parts else lines
        if have < lines:
            self.parts.append("\n" * (lines - have))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in SKIP_TAGS:
            self._skip += 1
        elif tag == "br":
            self.parts.append("\n")
        elif tag in BLOCK_TAGS:
            self._break(2 if tag in PARAGRAPH_TAGS else 1)
            if tag == "li":
                self.parts.append("- ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.parts.append("\n")
        elif tag in BLOCK_TAGS:
            self._break(1)

    def handle_endtag(self, tag: str) -> None:
        if tag in SKIP_TAGS:
            self._skip = max(0, self._skip - 1)
        elif tag in BLOCK_TAGS:
            self._break(2 if tag in PARAGRAPH_TAGS else 1)

    def handle_data(self, data: str) -> None:
        if not self._skip:
            # Newlines in HTML source are spaces; only tags make line breaks.
            self.parts.append(_INLINE_WS.sub(" ", data))


def html_to_text(markup: str | None) -> str | None:
    """Plain text of an HTML fragment (plain text passes through with its entities decoded); None when empty."""
    if markup is None or not markup.strip():
        return None
    if "<" not in markup:
        text = unescape(markup)
    else:
        parser = _TextExtractor()
        parser.feed(markup)
        parser.close()
        text = "".join(
            parser.parts
        )  # entities already decoded: decoding again would turn "&amp;lt;" into "<"
    lines = [" ".join(line.split()) for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() or None


def html_to_line(markup: str | None) -> str | None:
    """html_to_text on one line (titles, names)."""
    text = html_to_text(markup)
    return " ".join(text.split()) if text else None
