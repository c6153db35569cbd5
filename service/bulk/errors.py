"""The error of a bulk run: bad input, a bad option or an output that belongs to another run."""

from __future__ import annotations

from ember.engines.errors import InvalidInputError


class BatchError(InvalidInputError):
    """A bulk run cannot go on; the message names the file, row, column or option at fault."""
