"""Find what could run in a browser in an HTML page: the attacks of the rich-output corpus carry a marker
in each payload, and a page is inert when no payload survives in an active place.

The page is parsed with the standard library's HTML parser (independent of bleach, which the grader
uses), and every place a browser would execute something is looked at: script elements, event-handler
attributes, URL attributes with a script scheme, ``srcdoc``, and elements that embed other documents or
scripts (iframe, object, embed, svg, math, form, base, meta refresh).
"""

from __future__ import annotations

from html.parser import HTMLParser

MARKER = "PWNED"  # every hostile payload contains it; the autograder's own pages never do
EMBEDDING = {"iframe", "frame", "object", "embed", "svg", "math", "form", "base", "applet", "portal", "template"}
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "data", "poster", "background", "srcset"}
SCRIPT_SCHEMES = ("javascript:", "vbscript:", "data:text/html", "data:image/svg", "data:application")


def _scheme(value: str) -> str:
    return "".join(ch for ch in value if not ch.isspace() and ord(ch) > 0x1f).lower()


class _Finder(HTMLParser):
    def __init__(self, marker: str):
        super().__init__(convert_charrefs=True)
        self.marker, self.found, self._in_script = marker, [], False

    def handle_starttag(self, tag, attrs):
        self._in_script = tag == "script"
        for name, value in attrs:
            value = value or ""
            if name.startswith("on") and self.marker in value:
                self.found.append(f"<{tag} {name}={value[:80]!r}>")
            elif name in URL_ATTRIBUTES and _scheme(value).startswith(SCRIPT_SCHEMES):
                self.found.append(f"<{tag} {name}={value[:80]!r}>")
            elif name == "srcdoc":
                self.found.append(f"<{tag} srcdoc>")
            elif name == "http-equiv" and value.lower() == "refresh":
                self.found.append(f"<{tag} http-equiv=refresh>")
        if tag == "script" and any(self.marker in (v or "") for _, v in attrs):
            self.found.append(f"<script src={dict(attrs).get('src')!r}>")
        if tag in EMBEDDING:
            self.found.append(f"<{tag}>")

    handle_startendtag = handle_starttag

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script and self.marker in data:
            self.found.append(f"<script>{data.strip()[:80]}")


def active_content(page: str, marker: str = MARKER) -> list[str]:
    """Everything in ``page`` that a browser could run or that embeds a document (empty: inert)."""
    finder = _Finder(marker)
    finder.feed(page)
    finder.close()
    return finder.found
