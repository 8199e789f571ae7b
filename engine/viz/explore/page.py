"""The explorer's HTML: one self-contained page, or the same content for a notebook cell.

The markup skeleton, the styles and the script live beside this file
(`static/`) and are copied into the page; the steps go in as JSON and the graph as
inline SVG. Nothing is fetched when the page opens. Each rendering gets its own
element id, so two explorers on one notebook page work independently.
"""
import html
import json
import uuid
from importlib import resources
from string import Template

_STATIC = resources.files("engine.viz.explore") / "static"


_UNDRAWN = ('<p class="sgx-undrawn">The graph is not drawn here (the note above says why); the panel and the '
            'table still show every step.</p>')


def _static(name):
    return (_STATIC / name).read_text(encoding="utf-8")


def _json(data):
    """JSON safe inside a <script> element (no '<' that could close it)."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")


def fragment(data, pictures, standalone):
    """The explorer's markup, styles and script, with a fresh element id (a string of HTML).

    `pictures` holds one inline SVG per pass (None: not drawn)."""
    uid = f"sgx-{uuid.uuid4().hex[:12]}"
    data = dict(data, standalone=standalone)
    figures = "".join(f'<div class="sgx-picture" data-pass="{i}" hidden>{svg or _UNDRAWN}</div>'
                      for i, svg in enumerate(pictures))
    body = Template(_static("skeleton.html")).substitute(uid=uid, pictures=figures, data=_json(data))
    script = f'(function () {{\n{_static("explorer.js")}\nexplorer(document.getElementById("{uid}"));\n}})();'
    return f"<style>{_static('explorer.css')}</style>\n{body}<script>{script}</script>\n"


def document(data, pictures, title):
    """A whole HTML page holding one explorer."""
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{html.escape(title)}</title>\n</head>\n<body class=\"sgx-page\">\n"
            f"{fragment(data, pictures, standalone=True)}</body>\n</html>\n")
