"""What the CLI tests check of a refused command: one error line on stderr, exit code 1, no traceback."""

from __future__ import annotations


def one_error_line(result, *, besides_progress: bool = False) -> str:
    """The one ``vidclass: error:`` line of a failed ``CliRunner`` result (``besides_progress``: the last
    state of an extraction's progress bar may stand before it)."""
    lines = [line for line in result.stderr.splitlines()
             if line.strip() and not (besides_progress and line.startswith("extracting "))]
    assert result.exit_code == 1, result.output
    assert len(lines) == 1 and lines[0].startswith("vidclass: error: "), result.stderr
    assert "Traceback" not in result.output
    return lines[0]
