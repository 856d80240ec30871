"""The typed usage file runs as it is type-checked."""

from __future__ import annotations

from pathlib import Path

import typed_usage


def test_typed_usage_runs(tmp_path: Path) -> None:
    typed_usage.run(tmp_path)
