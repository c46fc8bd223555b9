"""A student's feedback page: the notebook nbgrader graded, as HTML that is safe to open, that
shows no hidden test, and that says plainly which scores are the grader's.

Everything the student wrote (their Markdown) and everything their code printed is untrusted:

* nbconvert renders the page with `HTMLExporter.sanitize_html`, its ``clean_html`` filter
  replaced by `clean_html` here (bleach, with the tags a rendered notebook uses: headings,
  images, tables; no script, style, form or iframe, no event handler, no ``javascript:`` URL).
  Outputs keep only types that are cleaned or inert (text, HTML, Markdown, PNG, JPEG), without
  their metadata (the template writes an image's width into the page unquoted); the notebook's
  widget state is dropped (the widget manager renders its HTML live).
* Test cells keep only their check lines: hidden tests are cut out of their source, and every
  hidden line is cut out of what any cell printed (a cell that prints the kernel's input
  history, ``In`` or ``_ih``, shows them). A cell of the student's that reads the history,
  the kernel or its namespace has its outputs withheld. Tracebacks keep their last line.
* The scores are in a box above the notebook, drawn here with inline styles (which sanitised
  content cannot carry); what the notebook printed is framed and labelled as its output.

Hidden tests are not secrets (they run in the student's kernel, which can print them in ways
no filter sees): this keeps them out of the page, so students are not handed them.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

from .reports import graded_cells
from .scan import scan_source

_BEGIN, _END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
#: Output types shown: cleaned when rendered (HTML, Markdown) or inert (text, images).
_SHOWN = ("text/plain", "text/html", "text/markdown", "image/png", "image/jpeg")
_BASE64 = re.compile(r"^[A-Za-z0-9+/=\s]*$")
#: A student's cell with a flag starting so can show the hidden tests: its outputs are withheld.
_READS_KERNEL = (
    "reads the notebook's history", "uses the IPython kernel", "reads the namespace",
    "registers kernel hooks", "reads the caller's frame", "reaches for the grading",
    "runs a shell command", "runs code from a string", "decodes hidden code",
    "edits sys.modules", "imports by name", "looks up a name it computes",
    "looks up a module's name", "reaches into",
)  # fmt: skip
WITHHELD = (
    "[outputs withheld from this page: this cell reads the kernel's history or internals, "
    "which hold the hidden tests]"
)
HIDDEN_LINE = "[hidden test]"
#: Caps on what a page shows, applied before it is drawn: characters of one text output, the
#: base64 of one image, outputs of one cell, and characters of all outputs of the page.
MAX_OUTPUT_CHARS, MAX_IMAGE_CHARS = 20_000, 2_000_000
MAX_CELL_OUTPUTS, MAX_PAGE_CHARS = 50, 4_000_000
_TAGS = {"a", "abbr", "b", "blockquote", "br", "code", "del", "div", "em", "h1", "h2", "h3",
         "h4", "h5", "h6", "hr", "i", "img", "li", "ol", "p", "pre", "s", "span", "strong",
         "sub", "sup", "table", "tbody", "td", "th", "thead", "tr", "ul"}  # fmt: skip
_IMAGE_DATA = ("data:image/png;", "data:image/jpeg;", "data:image/gif;")


def visible_source(text: str) -> str:
    """`text` without its hidden tests (``### BEGIN HIDDEN TESTS`` to ``### END HIDDEN
    TESTS``; a block left open runs to the end)."""
    lines, hidden = [], False
    for line in text.splitlines(keepends=True):
        if line.strip().startswith(_BEGIN):
            hidden = True
        elif hidden and line.strip().startswith(_END):
            hidden = False
        elif not hidden:
            lines.append(line)
    return "".join(lines)


def hidden_lines(notebook: dict) -> list[str]:
    """The lines (stripped, six characters or more) of the hidden tests in `notebook`."""
    found = set()
    for cell in notebook["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if not (meta.get("grade") and meta.get("locked")):
            continue  # hidden tests live in the test cells nbgrader restored
        text = _text(cell.get("source", ""))
        visible = set(visible_source(text).splitlines())
        found |= {line.strip() for line in text.splitlines() if line not in visible}
    found = {line for line in found if len(line) >= 6 and not line.startswith("### ")}
    return sorted(found, key=len, reverse=True)


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def _scrub(text: str, lines: list[str]) -> str:
    """`text` with each of `lines` cut out, also as Python, JSON and HTML write it escaped, and
    cut to `MAX_OUTPUT_CHARS` (what a hidden line crossing the cut leaves is cut out first)."""
    longest = max((len(json.dumps(line)) for line in lines), default=0)
    size = len(text)
    text = text[: MAX_OUTPUT_CHARS + 8 * longest]  # an escaped form is at most ~6x longer
    for line in lines:
        for form in {line, repr(line)[1:-1], json.dumps(line)[1:-1], html.escape(line)}:
            text = text.replace(form, HIDDEN_LINE)
    if size > MAX_OUTPUT_CHARS:
        text = text[:MAX_OUTPUT_CHARS] + f"\n[... {size - MAX_OUTPUT_CHARS:,} characters not shown]"
    return text


def _reads_kernel(source: str) -> bool:
    try:
        return any(reason.startswith(_READS_KERNEL) for _, reason, _ in scan_source(source))
    except Exception:  # noqa: BLE001 - a cell the scan cannot read may do anything
        return True


def _output(output: dict, lines: list[str]) -> dict | None:
    """A clean copy of one output, or None for an output type not shown."""
    kind = output.get("output_type")
    if kind == "stream":
        name = "stderr" if output.get("name") == "stderr" else "stdout"
        return {"output_type": kind, "name": name, "text": _scrub(_text(output.get("text", "")),
                                                                   lines)}  # fmt: skip
    if kind == "error":
        name, value = (_scrub(_text(output.get(k, "")), lines) for k in ("ename", "evalue"))
        return {"output_type": kind, "ename": name, "evalue": value,
                "traceback": [f"{name}: {value}"]}  # fmt: skip
    if kind not in ("display_data", "execute_result"):
        return None
    data = {}
    raw = output.get("data")
    for mime, value in (raw if isinstance(raw, dict) else {}).items():
        value = _text(value)
        if mime.startswith("image/") and len(value) > MAX_IMAGE_CHARS:
            data.setdefault("text/plain", f"[an image of {len(value):,} characters, not shown]")
        elif mime in _SHOWN and (not mime.startswith("image/") or _BASE64.match(value)):
            data[mime] = value if mime.startswith("image/") else _scrub(value, lines)
    clean = {"output_type": kind, "data": data, "metadata": {}}
    if kind == "execute_result":
        count = output.get("execution_count")
        clean["execution_count"] = count if isinstance(count, int) else None
    return clean


def student_view(notebook: dict, given: set[str] = frozenset()) -> dict:
    """The notebook the page shows (see the module's notes); changes `notebook` in place.

    `given`: the (stripped) sources of the release's code cells, whose outputs are shown
    whatever their code reaches for (the course's own set-up code)."""
    lines, budget = hidden_lines(notebook), MAX_PAGE_CHARS
    notebook["metadata"] = {k: v for k, v in notebook.get("metadata", {}).items()
                            if k in ("kernelspec", "language_info")}  # fmt: skip
    for cell in notebook["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        cell["metadata"] = {"nbgrader": meta} if meta else {}
        source = _text(cell.get("source", ""))
        if meta.get("grade") and meta.get("locked") and cell.get("cell_type") == "code":
            cell["source"] = visible_source(source)  # a test cell: its check lines only
        if cell.get("cell_type") != "code":
            continue
        if not meta.get("locked") and source.strip() not in given and _reads_kernel(source):
            cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": WITHHELD}]
            continue
        cell["outputs"], budget = _capped_outputs(cell.get("outputs"), lines, budget)
    return notebook


def _capped_outputs(outputs, lines: list[str], budget: int) -> tuple[list[dict], int]:
    """The clean outputs of one cell within the caps, and what is left of the page's budget."""
    outputs = [o for o in outputs if isinstance(o, dict)] if isinstance(outputs, list) else []
    kept = []
    for output in outputs[:MAX_CELL_OUTPUTS]:
        if budget <= 0:
            break
        clean = _output(output, lines)
        if clean is not None:
            kept.append(clean)
            budget -= len(json.dumps(clean))
    if len(kept) < len(outputs):
        note = (
            f"[{len(outputs) - len(kept):,} more outputs not shown: a page shows at most "
            f"{MAX_CELL_OUTPUTS} per cell and {MAX_PAGE_CHARS:,} characters in all]"
        )
        kept.append({"output_type": "stream", "name": "stdout", "text": note})
    return kept, budget


def _allowed(tag: str, name: str, value: str) -> bool:
    if name in ("class", "title", "alt", "width", "height"):
        return True
    if tag == "a" and name == "href":
        return value.startswith(("http://", "https://", "mailto:", "#"))
    if tag == "img" and name == "src":
        return value.startswith(("http://", "https://", *_IMAGE_DATA))
    return False


def clean_html(element) -> str:
    """Untrusted HTML made inert: only `_TAGS`, no style, no event handler, links to the web
    and images from it or inline PNG, JPEG and GIF; other tags are shown escaped."""
    import bleach

    text = element.decode() if isinstance(element, bytes) else str(element)
    return bleach.clean(text, tags=_TAGS, attributes=_allowed,
                        protocols=["http", "https", "mailto", "data"])  # fmt: skip


def scores_box(cells: dict, manual: set[str]) -> str:
    """The grader's scores (`cells`: grade id → (score, max score)) as an HTML box; the cells
    graded by hand (`manual`) are named, their points being given later, in the block
    `mitdeeplearning.instructor.reports.mark_feedback` puts at the top of the page."""
    style = "border:1px solid #ccc;padding:4px 10px;text-align:left"
    rows = "".join(
        f"<tr><td style='{style}'>{html.escape(str(grade_id))}</td>"
        f"<td style='{style}'>{html.escape(str(score))} / {html.escape(str(most))}</td></tr>"
        for grade_id, (score, most) in cells.items() if most and grade_id not in manual
    )  # fmt: skip
    by_hand = ", ".join(html.escape(str(g)) for g in cells if g in manual)
    later = (f"<p>Graded by hand: {by_hand}; their points are under “Points given by hand” on "
             "this page.</p>" if by_hand else "")  # fmt: skip
    return (
        "<div id='mitdl-scores' style='border:3px solid #1b5e20;background:#e8f5e9;"
        "padding:12px 18px;margin:16px auto;max-width:900px;font-family:sans-serif'>"
        "<h2 style='margin-top:0'>Your scores</h2>"
        f"<table style='border-collapse:collapse'><tr><th style='{style}'>test cell</th>"
        f"<th style='{style}'>points</th></tr>{rows}</table>{later}"
        "<p style='margin-bottom:0'>Your scores are in this box only, drawn by the grader above "
        "your notebook. Below is your notebook as it ran; each framed area holds what its code "
        "printed.</p></div>"
    )


_FRAME = (
    "<style>.jp-OutputArea-child{border-left:4px solid #9e9e9e;margin:2px 0}"
    ".jp-Cell-outputArea::before{content:'printed by the notebook';display:block;"
    "font:11px sans-serif;color:#757575}</style>"
)


def feedback_html(path: str | Path, cells: dict, given: set[str] = frozenset()) -> str:
    """The feedback page of the graded notebook at `path`, with the grader's scores `cells`
    (grade id → (score, max score)) in a box above it; `given` as for `student_view`."""
    import nbformat
    from nbconvert import HTMLExporter

    notebook = nbformat.reads(Path(path).read_text(encoding="utf-8"), as_version=4)
    notebook = student_view(notebook, given)
    manual = set(graded_cells({"": notebook})[1])
    exporter = HTMLExporter(sanitize_html=True, filters={"clean_html": clean_html})
    page, _ = exporter.from_notebook_node(nbformat.from_dict(notebook))
    page = page.replace("</head>", _FRAME + "</head>", 1)
    return re.sub(r"(<body[^>]*>)", lambda m: m[1] + scores_box(cells, manual), page, count=1)


def release_code(folder: str | Path) -> set[str]:
    """The stripped sources of the code cells of the release notebooks in `folder`."""
    sources = set()
    for path in sorted(Path(folder).glob("*.ipynb")):
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            if cell.get("cell_type") == "code":
                sources.add(_text(cell.get("source", "")).strip())
    return sources
