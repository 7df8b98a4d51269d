"""The CLI caps glibc's malloc arenas (decoding threads would each grow a heap of their own) unless the user's
MALLOC_ARENA_MAX says otherwise."""

from __future__ import annotations

import sys

import pytest

from vidclass.util.memory import cap_malloc_arenas


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_the_arena_cap_is_set_unless_the_environment_sets_one(monkeypatch):
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    assert cap_malloc_arenas() is True
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert cap_malloc_arenas() is False
