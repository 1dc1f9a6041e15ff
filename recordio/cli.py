"""Command-line conventions every entry script shares."""
import argparse


class _Renamed(argparse.Action):
    def __call__(self, parser, namespace, values, option_string=None):
        parser.error("%s was renamed %s" % (option_string, self.new_name))


def renamed(parser, old, new):
    """Reject the old spelling ``old`` of an option with a message naming ``new`` (its value, if any, too)."""
    action = parser.add_argument(old, action=_Renamed, nargs="?", help=argparse.SUPPRESS)
    action.new_name = new
    return action
