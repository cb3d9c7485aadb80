"""A second ``cskh serve`` on the same embedded files is refused at once and cleanly (the
fault suite's embedded case, ``tests/faults/embedded.py``): it never listens, and the first
one carries on without losing or doubling a form."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults.embedded import second_serve

pytestmark = pytest.mark.slow


async def test_a_second_serve_on_the_same_embedded_files_is_refused_and_the_first_goes_on(
        tmp_path: Path) -> None:
    result = await second_serve(tmp_path, forms=20)
    assert result.exit_code == 1
    assert "another `cskh serve` (pid" in result.message and "cskh.db" in result.message
    assert not result.listened
    assert result.first_still_ready
    assert result.tickets == result.forms == 20
