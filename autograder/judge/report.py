"""Render a cell verdict as the feedback a student reads (plain text and HTML)."""

from __future__ import annotations

import html
import re

from .verdict import CellVerdict

PASS, FAIL = "✔", "✘"


def _points(x: float) -> str:
    return f"{x:.2f}".rstrip("0").rstrip(".") if x != int(x) else str(int(x))


def heading(verdict: CellVerdict) -> str:
    kind = "hidden tests" if verdict.hidden else "tests"
    return f"{verdict.function} — {kind}: {_points(verdict.score)} / {_points(verdict.points)} points"


def render_text(verdict: CellVerdict) -> str:
    lines = [heading(verdict)]
    lines += [f"  ! {note}" for note in verdict.notes]
    for result in verdict.results:
        if result.passed:
            lines.append(f"  {PASS} {result.title}")
            continue
        share = f" — {result.fraction:.0%} of this check" if 0 < result.fraction < 1 else ""
        lines.append(f"  {FAIL} {result.title}{share}")
        for finding in result.findings:
            if not finding.passed:
                lines.append(f"      {FAIL} {finding.label}: {finding.detail}")
    if verdict.full_marks:
        lines.append("  All checks passed.")
    return "\n".join(lines)


def _inline_code(text: str) -> str:
    escaped = html.escape(text)
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped).replace("**", "")


def render_html(verdict: CellVerdict) -> str:
    ok = verdict.full_marks
    colour, background = ("#1a7f37", "#eefbf1") if ok else ("#b42318", "#fff4f2")
    items = []
    for result in verdict.results:
        if result.passed:
            items.append(f'<li style="color:#1a7f37">{PASS} {html.escape(result.title)}</li>')
            continue
        details = "".join(
            f"<li><b>{html.escape(f.label)}</b>: {_inline_code(f.detail)}</li>"
            for f in result.findings if not f.passed)
        share = f" ({result.fraction:.0%} of this check)" if 0 < result.fraction < 1 else ""
        items.append(f'<li><span style="color:#b42318"><b>{FAIL} {html.escape(result.title)}</b>{share}</span>'
                     f'<ul class="autograder-diagnosis">{details}</ul></li>')
    notes = "".join(f"<p><b>Note:</b> {_inline_code(n)}</p>" for n in verdict.notes)
    return (f'<div class="autograder-feedback" style="border:2px solid {colour};background:{background};'
            f'padding:0.6em 1em;border-radius:6px;margin:0.3em 0">'
            f'<p style="margin:0 0 0.4em 0;font-weight:bold;color:{colour}">{html.escape(heading(verdict))}</p>'
            f'{notes}<ul style="margin:0;padding-left:1.2em">{"".join(items)}</ul></div>')
