"""What HTML from a student may look like when an instructor's browser shows it: an allow-list for bleach.

Formgrader and ``generate_feedback`` render a graded notebook into pages of the instructor's (or the
student's) own site, so any script in them would act with that person's session. The policy keeps
passive markup only — text structure, tables, links to web pages, images given inline as PNG, JPEG or
GIF — and drops every scripting route: tags such as ``script``, ``iframe``, ``svg``, ``form``, ``style``,
event-handler and ``style`` attributes, and URLs with any scheme other than http(s) and mailto.

Markdown is checked on its rendering: nbconvert's own renderer (the one the templates use) turns it
into HTML, and the markdown is safe when bleach, with this policy, would leave that HTML unchanged.
"""

from __future__ import annotations

import re
from functools import lru_cache

from bleach import html5lib_shim
from bleach.sanitizer import BleachSanitizerFilter, Cleaner

TAGS = frozenset({
    "a", "abbr", "acronym", "b", "blockquote", "br", "caption", "code", "col", "colgroup", "dd", "del", "div",
    "dl", "dt", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "ol", "p", "pre",
    "q", "s", "samp", "small", "span", "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead",
    "tr", "tt", "u", "ul", "var",
})
PROTOCOLS = frozenset({"http", "https", "mailto", "data", "attachment"})  # data/attachment: images only, below
INLINE_IMAGE = re.compile(r"data:image/(png|jpeg|gif);base64,[A-Za-z0-9+/=\s]*", re.IGNORECASE)
# Classes that nbconvert's markdown rendering emits (pygments tokens, code blocks, heading anchors);
# no others, so that a student cannot borrow the page's own layout classes (a fixed overlay, a modal).
_CLASS_TOKEN = re.compile(r"[a-z]{1,2}[a-z0-9]?|highlight|hl-[a-z0-9_+-]{1,30}|anchor-link")
_PLAIN_ATTRIBUTES = {
    "a": {"title"}, "abbr": {"title"}, "acronym": {"title"}, "img": {"alt", "title", "width", "height"},
    "td": {"colspan", "rowspan", "align"}, "th": {"colspan", "rowspan", "align"}, "ol": {"start"},
    "table": {"border"}, "col": {"span"}, "colgroup": {"span"},
    **{f"h{level}": {"id"} for level in range(1, 7)},
}


def _url(value: str) -> str:
    """A URL as a browser reads its scheme: entities decoded, blanks and control characters dropped."""
    return re.sub(r"[\x00-\x20\x7f-\xa0]+", "", html5lib_shim.convert_entities(value)).lower()


def _allowed_attribute(tag: str, name: str, value: str) -> bool:
    if name in _PLAIN_ATTRIBUTES.get(tag, ()):
        return True
    if name == "class":
        return all(_CLASS_TOKEN.fullmatch(token) for token in value.split())
    if tag == "a" and name == "href":
        return not _url(value).startswith(("data:", "attachment:"))   # bleach checks the other schemes
    if tag == "img" and name == "src":
        # Only images carried by the notebook itself: no request leaves the page (no tracking, no
        # same-origin GET made with the instructor's cookies).
        url = _url(value)
        return bool(INLINE_IMAGE.fullmatch(url)) or url.startswith("attachment:")
    return False


@lru_cache(maxsize=1)
def _cleaner() -> Cleaner:
    return Cleaner(tags=TAGS, attributes=_allowed_attribute, protocols=PROTOCOLS, strip=False, strip_comments=True)


def clean_html(text: str) -> str:
    """``text`` with everything outside the policy escaped (shown as text) or removed."""
    return _cleaner().clean(text)


def _markup(tokens) -> list:
    """The tags, attributes and comments of a token stream (text is left out: bleach re-encodes it)."""
    kept = []
    for token in tokens:
        if token["type"] in ("Characters", "SpaceCharacters", "Entity"):
            continue
        data = token.get("data")
        kept.append((token["type"], token.get("name"),
                     tuple(sorted(data.items())) if isinstance(data, dict) else data))
    return kept


def is_inert_html(text: str) -> bool:
    """True when the policy leaves every tag, attribute and comment of ``text`` as it is.

    ``text`` is parsed as bleach parses it but with no tag escaped in advance, then bleach's own
    sanitizing filter runs over the tokens: anything it escapes, drops or rewrites shows up as a
    difference between the two token streams."""
    cleaner = _cleaner()
    parser = html5lib_shim.BleachHTMLParser(tags=None, strip=False, consume_entities=False,
                                            namespaceHTMLElements=False)
    tokens = list(cleaner.walker(parser.parseFragment(text)))
    filtered = BleachSanitizerFilter(source=iter(tokens), allowed_tags=cleaner.tags, attributes=cleaner.attributes,
                                     strip_disallowed_tags=False, strip_html_comments=True,
                                     allowed_protocols=cleaner.protocols)
    return _markup(tokens) == _markup(filtered)


def render_markdown(source: str, attachments: dict | None = None) -> str:
    """Markdown as nbconvert's HTML templates render it."""
    from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath

    renderer = IPythonRenderer(escape=False, attachments=attachments or {}, anchor_link_text="¶")
    return MarkdownWithMath(renderer=renderer).render(source)


CACHED_MARKDOWN_CHARS = 20_000  # the course's own markdown cells, the same in every submission, are checked once


def is_inert_markdown(source: str, attachments: dict | None = None) -> bool:
    """True when the rendering of ``source`` is inert. Markdown that cannot be rendered at all (it names
    an attachment the cell lacks) counts as not inert: shown as text, it no longer breaks the page."""
    if not attachments and len(source) <= CACHED_MARKDOWN_CHARS:
        return _is_inert_plain_markdown(source)
    return _check_markdown(source, attachments)


@lru_cache(maxsize=2048)
def _is_inert_plain_markdown(source: str) -> bool:
    return _check_markdown(source, None)


def _check_markdown(source: str, attachments: dict | None) -> bool:
    try:
        rendered = render_markdown(source, attachments)
    except Exception:
        return False
    return is_inert_html(rendered)


def as_literal_markdown(source: str, why: str) -> str:
    """Markdown that shows ``source`` verbatim (a fenced block longer than any backtick run in it)."""
    longest = max((len(run) for run in re.findall(r"`+", source)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"*{why}*\n\n{fence}text\n{source}\n{fence}"
