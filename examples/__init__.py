"""Runnable example apps for tavus-async (tested by tests/test_web_examples.py)."""
