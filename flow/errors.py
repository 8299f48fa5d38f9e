"""The one exception type the CLI turns into a single line and exit code 2."""


class FlowError(Exception):
    """Bad input the user can fix: the message names the problem and the fix."""


class VerificationError(FlowError):
    """Generated hardware disagrees with its reference beyond the stated bound."""
