"""Fixtures for the data tests (the HTTP server and the isolated cache are in tests/conftest.py)."""

from __future__ import annotations

import pytest

from mitdeeplearning.data import registry


@pytest.fixture(autouse=True)
def clean_registry(monkeypatch):
    """Entries a test registers disappear after it."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
