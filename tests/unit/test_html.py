"""HTML fragments to text, shared by the CMS and API connectors."""

from __future__ import annotations

from listings.transform.html import html_to_line, html_to_text


def test_html_to_text() -> None:
    assert html_to_text("<h2>Titre</h2><p>A&amp;B <br>C</p>") == "Titre\n\nA&B\nC"
    assert html_to_text("<div><div><p>nested</p></div></div><p>next</p>") == "nested\n\nnext"
    assert html_to_text("<ul><li>Vue</li><li>Terrasse</li></ul>") == "- Vue\n- Terrasse"
    assert (
        html_to_text("<p>keep &amp;lt; literal</p><script>alert(1)</script><style>p{}</style>")
        == "keep &lt; literal"
    )
    assert html_to_text("Plain &amp; simple\n\n\n\nnext") == "Plain & simple\n\nnext"
    assert html_to_text("<p> </p>") is None and html_to_text(None) is None and html_to_text("  ") is None
    assert html_to_line("Caf&eacute;<br/> Olimpico") == "Café Olimpico"
