"""The instructor's tools, above the student-facing packages: release the labs, run them
headless, check a notebook before it is submitted, and autograde a course's submissions.

* `course`: the course folder, its labs, nbgrader in a scratch copy, release and its check;
* `notebooks`: run a notebook top to bottom; `run_lab`, the main job (`mitdl run`);
* `notebook_file`: read a submitted file defensively (size, depth, cells, shapes);
* `submission`: read a student's notebook, identify it, repair lost grading metadata, scan its
  answers (no code runs);
* `scan`, with `names` and `rules`: what an answer cell reaches for, read from its syntax tree
  with every alias followed, and answers that call what their exercise refuses;
* `validate`: `mitdl validate`, what stands between a notebook and full marks;
* `sandbox` and `kernel_sandbox`: run a student's grading, and its kernel inside it, with no
  network, their own processes and a read-only system (bubblewrap on Linux);
* `grade_job`: one student's grading as a process of its own, under the time and memory limits;
* `scores`: the scores of a graded notebook, by nbgrader's rule, from the course's own test
  cells (never from a gradebook the student's kernel could write);
* `feedback`: a student's feedback page, safe to open and without hidden tests;
* `similarity`: pairs of students whose answers are alike (a flag in the summary);
* `reports`, `written`: grades.csv, lms.csv, summary.md; the answers graded by hand
  (`mitdl written`);
* `autograde`: `mitdl autograde`, the one autograding path (parallel on Dask; one worker
  grades serially).

Notebooks never import this package, except for `validate.validate_this_notebook`, which a
student may call from a new cell before submitting (it needs neither nbgrader nor Dask); the
package imports the student-facing ones, never the reverse.
"""
