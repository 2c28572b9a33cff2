"""The one error type for bad user input: entry points print it as one line and exit non-zero.

Every error a user can fix by changing a value, a path or a file derives from `UserError`
(bad config fields and flags, unreadable images and checkpoints, architecture mismatches, ...).
Its message names the field or file and what is allowed; `hint` is an optional second line
(what to do). Anything else escaping an entry point is a bug and keeps its traceback.

    raise UserError("--top_k must be an integer >= 1, got 0", hint="the official value is 40")
"""

from __future__ import annotations


class UserError(Exception):
  """A bad value, path or file; `str(e)` names it and what is allowed, `e.hint` says what to do."""

  def __init__(self, message: str, *, hint: str | None = None):
    super().__init__(message)
    self.hint = hint

  def lines(self) -> list[str]:
    """What an entry point prints: 'error: <message>' and, if any, 'hint: <hint>'."""
    first, *rest = [line.strip() for line in str(self).splitlines() if line.strip()] or [
        type(self).__name__]
    if rest:  # detail lines (e.g. every mismatched key) are folded into the one line
      first += " (" + "; ".join(rest) + ")"
    out = [f"error: {first}"]
    if self.hint:
      out.append(f"hint: {self.hint}")
    return out


class DataError(UserError, ValueError):
  """Invalid or unreadable input data (images, videos, dataset folders); the message names the
  file or folder."""
