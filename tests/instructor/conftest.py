"""The small TF-free course the instructor's tests grade (see `tests.instructor.demo`)."""

from __future__ import annotations

import pytest

from .demo import make_course


@pytest.fixture(scope="module")
def demo_course(tmp_path_factory):
    return make_course(tmp_path_factory.mktemp("course"))
