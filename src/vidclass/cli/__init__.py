"""The ``vidclass`` command line: parses options, calls the Python API, prints. No logic lives here.

One module per command group (:mod:`~vidclass.cli.datasets`, :mod:`~vidclass.cli.training`,
:mod:`~vidclass.cli.inference`), each registering its commands on the one :data:`~vidclass.cli.app.app`;
the options they share are defined once in :mod:`~vidclass.cli.options`.
"""

# each registers its commands, in the order help lists them: data, then training, then using a model
from vidclass.cli import datasets, training, inference  # noqa: F401, I001
from vidclass.cli.app import app

__all__ = ["app"]
