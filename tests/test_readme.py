"""The README's Python examples run and print what they say they print."""

import contextlib
import io
import re
import shlex
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


def test_readme_main_job_runs(tmp_path):
    """The README's first command, shortened to a few steps on a few digits, trains and writes its pictures."""
    from minigan.commands import main

    (command,) = re.findall(r"^pip install -e \. && (minigan train .*)$", README.read_text(), re.MULTILINE)
    args = shlex.split(command)[2:]
    args[args.index("--steps") + 1] = "4"
    args[args.index("--out") + 1] = str(tmp_path)
    main(["train", *args, "--n", "256", "--quiet"])
    assert (tmp_path / "samples" / "latest.png").stat().st_size > 0
    assert (tmp_path / "losses.png").stat().st_size > 0
    assert list((tmp_path / "checkpoints").glob("step_*.safetensors"))
