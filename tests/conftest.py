"""Fixtures shared by several test modules."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest


@pytest.fixture
def no_error_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Fail a test if anything logged a warning or error ('Task exception was never
    retrieved', 'Task was destroyed but it is pending', unhandled server errors, ...)."""
    caplog.set_level(logging.WARNING)
    yield
    bad = [r for r in caplog.get_records("call") if r.levelno >= logging.WARNING]
    assert not bad, [r.getMessage() for r in bad]
