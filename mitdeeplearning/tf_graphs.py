"""Moved to `mitdeeplearning.basics.graphs` (Lab 1 Part 1's topic); this alias warns once."""

from ._lazy import moved_module

moved_module(__name__, "mitdeeplearning.basics.graphs", globals())
