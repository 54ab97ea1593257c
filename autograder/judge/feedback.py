"""Render a cell verdict as the feedback a student reads (plain text and HTML)."""

from __future__ import annotations

import html
import re

from .verdict import CellVerdict

PASS, FAIL = "✔", "✘"


def _points(x: float) -> str:
    return f"{x:.2f}".rstrip("0").rstrip(".") if x != int(x) else str(int(x))


def heading(verdict: CellVerdict) -> str:
    kind = "hidden tests" if verdict.hidden else "visible test"
    unit = "point" if verdict.points == 1 else "points"
    return f"{verdict.function} — {kind}: {_points(verdict.score)} / {_points(verdict.points)} {unit}"


def _failures(verdict: CellVerdict):
    """Failed findings per scenario; a diagnosis already given above is not repeated in full."""
    seen: set[str] = set()
    for result in verdict.results:
        if result.passed:
            yield result, []
            continue
        items = []
        for finding in result.findings:
            if finding.passed:
                continue
            repeated = finding.detail in seen
            seen.add(finding.detail)
            items.append((finding, "same diagnosis as above" if repeated else finding.detail))
        yield result, items


def render_text(verdict: CellVerdict) -> str:
    lines = [heading(verdict)]
    lines += [f"  ! {note}" for note in verdict.notes]
    for result, items in _failures(verdict):
        if result.passed:
            lines.append(f"  {PASS} {result.title}")
            continue
        share = f" — {result.fraction:.0%} of this check" if 0 < result.fraction < 1 else ""
        lines.append(f"  {FAIL} {result.title}{share}")
        lines += [f"      {FAIL} {finding.label}: {detail}" for finding, detail in items]
    if verdict.full_marks:
        lines.append("  All checks passed.")
    return "\n".join(lines)


def _inline_code(text: str) -> str:
    """Escape, then render the catalogue's little markdown: `code`, **strong**, *emphasis*."""
    escaped = html.escape(text)
    escaped = re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)
    escaped = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", escaped)
    return re.sub(r"(?<![\w*])\*([^*\s][^*]*)\*(?![\w*])", r"<em>\1</em>", escaped)


def render_html(verdict: CellVerdict) -> str:
    ok = verdict.full_marks
    colour, background = ("#1a7f37", "#eefbf1") if ok else ("#b42318", "#fff4f2")
    items = []
    for result, failed in _failures(verdict):
        if result.passed:
            items.append(f'<li style="color:#1a7f37">{PASS} {html.escape(result.title)}</li>')
            continue
        details = "".join(f"<li><b>{html.escape(f.label)}</b>: {_inline_code(detail)}</li>" for f, detail in failed)
        share = f" ({result.fraction:.0%} of this check)" if 0 < result.fraction < 1 else ""
        items.append(f'<li><span style="color:#b42318"><b>{FAIL} {html.escape(result.title)}</b>{share}</span>'
                     f'<ul class="autograder-diagnosis">{details}</ul></li>')
    notes = "".join(f"<p><b>Note:</b> {_inline_code(n)}</p>" for n in verdict.notes)
    return (f'<div class="autograder-feedback" style="border:2px solid {colour};background:{background};'
            f'padding:0.6em 1em;border-radius:6px;margin:0.3em 0">'
            f'<p style="margin:0 0 0.4em 0;font-weight:bold;color:{colour}">{html.escape(heading(verdict))}</p>'
            f'{notes}<ul style="margin:0;padding-left:1.2em">{"".join(items)}</ul></div>')
