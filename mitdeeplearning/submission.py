"""Moved to `mitdeeplearning.instructor.submission`; this alias warns once."""

from ._lazy import moved_module

moved_module(__name__, "mitdeeplearning.instructor.submission", globals())
