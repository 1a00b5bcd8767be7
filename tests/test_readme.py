"""The README's Python examples run and print what they say they print."""

import contextlib
import io
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), re.DOTALL)


def test_readme_has_examples():
    assert BLOCKS


@pytest.mark.parametrize("block", BLOCKS)
def test_readme_example_runs(block):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(block, str(README), "exec"), {})  # noqa: S102  (the README is ours)
    # a print(...)  # comment line states the expected output
    for line, expected in zip(out.getvalue().splitlines(), re.findall(r"print\(.*\)\s+#\s*(.+)", block)):
        assert line.strip() == expected.strip()
