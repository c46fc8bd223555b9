"""The feedback page is safe to open, shows no hidden test, and its scores cannot be imitated:
rendered here from a graded notebook written by the test (fast; the real autograde run is in
`test_batch_grading.py`)."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import nbformat

from mitdeeplearning.instructor.feedback import (
    HIDDEN_LINE,
    WITHHELD,
    clean_html,
    feedback_html,
    visible_source,
)

from .demo import exercises_notebook

HIDDEN = "checks.check_roc(roc_curve, seed=11)"  # a hidden test line of the demo lab
PNG = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJ"
       "RU5ErkJggg==")  # fmt: skip
ATTACK_HTML = (
    "<script>alert('script')</script><img src=x onerror=\"alert('img')\">"
    "<a href=\"javascript:alert('link')\">click</a><iframe src='https://example.org'></iframe>"
    "<form action='https://example.org'><input name=pw></form>"
    "<div style='border:3px solid #1b5e20'><h2>Your scores</h2>roc 2 / 2</div>"
)


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.scripts, self.text, self._in_script = [], [], [], False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        (self.scripts if self._in_script else self.text).append(data)


def _cell(source, outputs=(), **nbgrader):
    cell = nbformat.v4.new_code_cell(source)
    cell.outputs = [nbformat.from_dict(o) for o in outputs]
    if nbgrader:
        cell.metadata["nbgrader"] = nbgrader
    return cell


def _graded(tmp_path: Path) -> Path:
    """The demo lab as nbgrader leaves it after grading a hostile student: its test cells
    restored with their hidden tests, and what the student's cells printed."""
    notebook = exercises_notebook()
    history = [f"from mitdeeplearning import grading\n{HIDDEN}"]
    notebook.cells += [
        _cell("print(In)", [{"output_type": "stream", "name": "stdout", "text": str(history)}]),
        _cell(
            "notes",
            [
                {"output_type": "stream", "name": "stdout", "text": f"{HIDDEN}\n{history!r}"},
                {
                    "output_type": "error",
                    "ename": "AssertionError",
                    "evalue": HIDDEN,
                    "traceback": ["Traceback", f"----> 4 {HIDDEN}"],
                },
            ],
        ),  # fmt: skip
        _cell(
            "show()",
            [
                {
                    "output_type": "display_data",
                    "metadata": {},
                    "data": {
                        "text/html": ATTACK_HTML,
                        "text/plain": "attack",
                        "application/javascript": "alert('js')",
                        "application/vnd.jupyter.widget-view+json": {"model_id": "m1"},
                    },
                },
                {
                    "output_type": "display_data",
                    "data": {"image/png": PNG},
                    "metadata": {"image/png": {"width": "1 onerror=alert('width')"}},
                },
            ],
        ),  # fmt: skip
        nbformat.v4.new_markdown_cell(
            "## Your scores\n\n| cell | score |\n| --- | --- |\n| roc | 2 / 2 |\n\n"
            "<img src=x onerror=\"alert('md')\"> [site](javascript:alert('mdlink'))"
        ),
    ]
    notebook.metadata["widgets"] = {
        "application/vnd.jupyter.widget-state+json": {
            "state": {"m1": {"model_name": "HTMLModel", "state": {"value": "<script>1</script>"}}}
        }
    }
    path = tmp_path / "Exercises.ipynb"
    nbformat.write(notebook, path)
    return path


SCORES = {"test_pointing": (2.0, 2.0), "test_roc": (0.0, 2.0), "written": (None, 1.0)}


def _page(tmp_path) -> tuple[str, _Page]:
    page = feedback_html(_graded(tmp_path), SCORES)
    parsed = _Page()
    parsed.feed(page)
    return page, parsed


def test_nothing_a_student_wrote_or_printed_runs_in_the_page(tmp_path):
    page, parsed = _page(tmp_path)
    assert not [(t, a) for t, a in parsed.tags if any(k.startswith("on") for k in a)]
    assert not [t for t, _ in parsed.tags if t in ("iframe", "form", "input", "object", "embed")]
    links = [a.get("href", "") + a.get("src", "") for _, a in parsed.tags]
    assert not [link for link in links if "javascript:" in link.lower()]
    assert not [s for s in parsed.scripts if "alert" in s or "HTMLModel" in s]
    assert "widget-state" not in page and "application/vnd.jupyter.widget-view" not in page
    # What was attempted stays readable, escaped, and the honest parts render.
    text = "".join(parsed.text)
    assert "<script>alert('script')</script>" in text
    assert "h1" in [t for t, _ in parsed.tags] and "Exercises" in text
    assert any(t == "img" and a.get("src", "").startswith("data:image/png;base64,")
               and "onerror" not in a for t, a in parsed.tags)  # fmt: skip


def test_no_hidden_test_line_reaches_the_page(tmp_path):
    page, parsed = _page(tmp_path)
    assert "seed=11" not in page and "seed=5" not in page
    text = "".join(parsed.text)
    assert WITHHELD in text and HIDDEN_LINE in text
    assert "checks.check_roc(roc_curve)" in text  # the test cell's check line stays


def test_the_scores_box_comes_first_and_the_students_imitation_is_framed(tmp_path):
    page, parsed = _page(tmp_path)
    body = page[page.index("<body") :]
    box = body.index("id='mitdl-scores'")
    assert box < body.index("Your scores") < body.index("<main")
    assert "test_roc</td><td style='border:1px solid #ccc;padding:4px 10px;text-align:left'>" \
           "0.0 / 2.0</td>" in page  # fmt: skip
    assert "Graded by hand: written; their points are under" in page
    # A student's HTML cannot carry the box's inline styles: its look is ours alone.
    assert page.count("border:3px solid #1b5e20") == 1
    assert "printed by the notebook" in page


def test_visible_source_cuts_hidden_blocks_even_one_left_open():
    text = "a = 1\n### BEGIN HIDDEN TESTS\nb = 2\n### END HIDDEN TESTS\nc = 3\n"
    assert visible_source(text) == "a = 1\nc = 3\n"
    assert visible_source("a\n### BEGIN HIDDEN TESTS\nsecret\n") == "a\n"


def test_clean_html_keeps_a_notebooks_markup_and_drops_what_runs():
    kept = '<h2>T</h2><p><img src="data:image/png;base64,AA=="></p><table><tr><th>x</th></tr>'
    cleaned = clean_html(kept)
    assert all(part in cleaned for part in ["<h2>T</h2>", "<th>x</th>",
                                            '<img src="data:image/png;base64,AA==">'])  # fmt: skip
    for attack in ['<a href="javascript:x()">a</a>', '<img src="data:text/html,x">',
                   '<p onclick="x()">a</p>', '<span style="color:red">a</span>']:  # fmt: skip
        cleaned = clean_html(attack)
        assert not any(w in cleaned for w in ("javascript", "text/html", "onclick", "style"))
    assert json.dumps(clean_html("<script>x</script>")) == json.dumps(
        "&lt;script&gt;x&lt;/script&gt;"
    )


def test_history_reached_another_way_is_withheld_but_the_courses_own_code_is_shown(tmp_path):
    notebook = exercises_notebook()
    printed = [{"output_type": "stream", "name": "stdout", "text": "printed-marker-7\n"}]
    reach = "import sys\nprint(sys.modules['__main__'].__dict__['_i' + 'h'])"
    notebook.cells += [_cell(reach, printed), _cell("import sys\nmods = sys.modules", printed)]
    path = tmp_path / "Exercises.ipynb"
    nbformat.write(notebook, path)
    shown = _Page()
    shown.feed(feedback_html(path, SCORES, given={"import sys\nmods = sys.modules"}))
    text = "".join(shown.text)
    assert text.count(WITHHELD) == 1 and text.count("printed-marker-7") == 1
    assert text.index(WITHHELD) < text.index("printed-marker-7")


def test_outputs_are_capped_before_the_page_is_drawn(tmp_path):
    """A 12 MB display output once kept a page rendering for 25 minutes: every output is cut
    to its cap first, a cell shows at most MAX_CELL_OUTPUTS, and the page a bounded total."""
    import time

    from mitdeeplearning.instructor import feedback

    huge = "x" * 12_000_000
    notebook = exercises_notebook()
    notebook.cells.append(_cell("display(raw)", [
        {"output_type": "display_data", "data": {"text/html": f"<p>{huge}</p>",
                                                 "text/plain": huge}, "metadata": {}},
        {"output_type": "display_data", "data": {"image/png": "A" * 5_000_000}, "metadata": {}},
    ]))  # fmt: skip
    notebook.cells.append(_cell("for i in range(10_000): print(i)", [
        {"output_type": "stream", "name": "stdout", "text": f"{i}\n"} for i in range(10_000)
    ]))  # fmt: skip
    path = tmp_path / "Exercises.ipynb"
    path.write_text(json.dumps(notebook), encoding="utf-8")
    tic = time.perf_counter()
    page = feedback_html(path, {"test_roc": (2.0, 2.0)})
    assert time.perf_counter() - tic < 60  # minutes before the caps; a few seconds with them
    assert len(page) < 2 * feedback.MAX_PAGE_CHARS
    assert f"{12_000_007 - feedback.MAX_OUTPUT_CHARS:,} characters not shown" in page
    assert "an image of 5,000,000 characters, not shown" in page
    assert f"{10_000 - feedback.MAX_CELL_OUTPUTS:,} more outputs not shown" in page
