"""Running the `minigan` command inside a test, and checking its one-line errors."""

import pytest

from minigan.commands import main


def run(*argv):
    main([str(a) for a in argv])


def fails(capsys, *argv, match: str):
    """The command exits with status 2 and one line on stderr that contains `match`."""
    with pytest.raises(SystemExit) as exit_info:
        run(*argv)
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2
    assert len(err.splitlines()) == 1, err
    assert match in err, err
