"""Running `retail` commands in the tests: in process (typer's runner) or as the installed script."""

from __future__ import annotations

import sys
from pathlib import Path

from click.testing import Result
from typer.testing import CliRunner

from retail.cli import app

RETAIL = Path(sys.executable).parent / "retail"
runner = CliRunner()


def retail(*args: str | Path) -> Result:
    return runner.invoke(app, [str(a) for a in args])


def ok(*args: str | Path) -> str:
    result = retail(*args)
    assert result.exit_code == 0, f"{args}: {result.output}\n{result.exception!r}"
    return result.stdout


def fails(*args: str | Path) -> str:
    """An expected error: exit code 1, one `error:` line, no exception escaping the command."""
    result = retail(*args)
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), f"unhandled {result.exception!r}"
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]
