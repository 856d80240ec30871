"""The README's Python example, the quickstart (`make demo`) and the read
benchmark run as written."""

from __future__ import annotations

import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1]
REPOSITORY = PACKAGE.parents[1]


def test_readme_python_example() -> None:
    readme = (REPOSITORY / "README.md").read_text()
    match = re.search(r"## Quick example \(Python\)\n\n```python\n(.*?)```", readme, re.S)
    assert match, "README has no Python quick example"
    exec(compile(match.group(1), "README.md", "exec"), {"__name__": "readme"})


def test_quickstart_twice(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = str(PACKAGE / "examples" / "quickstart.py")
    for run in (1, 2):
        sys.argv = [script, str(tmp_path / "demo-data")]
        runpy.run_path(script, run_name="__main__")
        out = capsys.readouterr().out
        assert f"earlier runs: {run - 1}" in out
        assert f"experiment-{run}" in out
        assert "three_way" in out
        assert "modified=" in out
    assert "visits: 50 + 2 x 25 = 100" in out


def test_read_benchmark_runs() -> None:
    script = PACKAGE / "benches" / "read_path.py"
    done = subprocess.run(
        [sys.executable, str(script), "--keys", "10", "--number", "100", "--repeat", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "kvit Staged[key]" in done.stdout
