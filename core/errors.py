"""Errors a user can fix. The command line prints them as one line and exits with code 2;
the app shows them as a message. Anything else is a bug and keeps its traceback."""


class LabError(Exception):
    """A problem with the user's input or environment, with a message that says how to fix it."""
