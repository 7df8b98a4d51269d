"""``python -m vidclass``: the same as the ``vidclass`` command."""

from vidclass.cli import app

app(prog_name="vidclass")
