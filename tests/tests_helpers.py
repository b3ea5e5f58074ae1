"""Helpers importable from any test module (pytest puts tests/ on sys.path via rootdir conftest)."""

from __future__ import annotations

from conftest import Fixture, fixture_by_name


def fixture_or_skip(name: str) -> Fixture:
    return fixture_by_name(name)
