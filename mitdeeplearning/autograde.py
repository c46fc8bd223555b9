"""Moved to `mitdeeplearning.instructor.autograde` (where `autograde_course` is now
`autograde`); this alias warns once."""

from ._lazy import moved_module

moved_module(__name__, "mitdeeplearning.instructor.autograde", globals())


def __getattr__(name: str):
    from .instructor import autograde as module

    return getattr(module, name)  # autograde_course: the old name, which warns once
