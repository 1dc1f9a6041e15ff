"""Command-line conventions every entry script shares.

``run(main)`` is how every entry script starts: the project's own errors (``recordio.errors.UserError``, an
``OSError`` naming its file, and ``SystemExit("error: ...")``) end with one line on stderr that names the file
and what to do, exit status 2, no traceback; ``--debug`` anywhere on the command line shows the traceback.
"""
import argparse
import sys

from recordio.errors import UserError

DEBUG_FLAG = "--debug"
USAGE_STATUS = 2  # argparse's own status for a bad command line; the project's errors end the same way


class _Renamed(argparse.Action):
    def __call__(self, parser, namespace, values, option_string=None):
        parser.error("%s was renamed %s" % (option_string, self.new_name))


def renamed(parser, old, new):
    """Reject the old spelling ``old`` of an option with a message naming ``new`` (its value, if any, too)."""
    action = parser.add_argument(old, action=_Renamed, nargs="?", help=argparse.SUPPRESS)
    action.new_name = new
    return action


def run(main, argv=None):
    """Call ``main(argv)`` (default: the command line without ``--debug``); returns what it returns.  The
    project's own errors end the process with one ``error: ...`` line on stderr and status 2, unless
    ``--debug`` was given (then they raise as usual, traceback and all)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    ours = argv.index("--") if "--" in argv else len(argv)  # after "--": a command the script runs (launch.py)
    debug = DEBUG_FLAG in argv[:ours]
    argv = [a for a in argv[:ours] if a != DEBUG_FLAG] + argv[ours:]
    try:
        return main(argv)
    except SystemExit as e:
        if isinstance(e.code, str) and not debug:
            fail(e.code)
        raise
    except (UserError, OSError) as e:
        if debug:
            raise
        fail(message(e))


def message(e):
    """One line for an error: its text (an OSError's with the file it names), prefixed ``error:``."""
    if isinstance(e, OSError) and not isinstance(e, UserError) and e.filename is not None:
        text = "%s: %s" % (e.filename, e.strerror or e)
    else:
        text = str(e)
    text = " ".join(text.split())
    return text if text.startswith("error:") else "error: " + text


def fail(text):
    """Print ``text`` as the one error line and leave with status 2."""
    text = " ".join(str(text).split())
    print(text if text.startswith("error:") else "error: " + text, file=sys.stderr)
    sys.exit(USAGE_STATUS)
