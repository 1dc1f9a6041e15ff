"""The project's own errors: problems the user can fix, each message naming the file (and line, record or
frame) and what to do.

Entry scripts run their ``main`` through ``recordio.cli.run``, which ends any of these with one line on stderr
and exit status 2 (``--debug`` shows the traceback); anything else is a bug and keeps its traceback.  Each
class also derives from the built-in exception it refines, so ``except ValueError`` still catches a bad label
and ``except FileNotFoundError`` a missing export.
"""


class UserError(Exception):
    """A problem with the user's input, files, arguments or machine, not with the code."""


class BadInput(UserError, ValueError):
    """A value, file or argument the project cannot use as given."""


class MissingFile(UserError, FileNotFoundError):
    """A file the project needs is not there."""


class BadModelFile(UserError, ValueError):
    """An exported or trained model file that cannot be read (cut short, damaged, or of another network)."""


def brief(e, limit=300):
    """An exception's text on one line, at most ``limit`` characters; MXNet's C++ errors without the stack
    trace they carry in their text (only the failed check)."""
    text = str(e)
    if "MXNetError" in text or "Traceback" in text:
        text = text.rsplit("MXNetError:", 1)[-1] if "MXNetError:" in text else text.splitlines()[-1]
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 3] + "..."
