"""One base class for every error a user can fix (a bad value, file or setting).

Entry points catch `UserError` once and print its message as one line (plus `hint` where there
is one) and exit non-zero; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class UserError(Exception):
  """An error in the user's input: the message names the field or file and what is allowed."""

  def __init__(self, message: str, *, hint: str | None = None):
    super().__init__(message)
    self.hint = hint
