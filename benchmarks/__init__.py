"""Benchmarks of tavus-async against hand-written aiohttp and httpx+pydantic clients.

Run `python -m benchmarks` (see docs/benchmarks.md); nothing here is imported by the package.
"""
