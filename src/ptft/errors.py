"""Error types ptft raises for user mistakes.

Every message names the object (file, line, key), the value seen and the fix. The CLI prints these
without a traceback; anything else escaping is a bug in ptft.
"""


class PtftError(Exception):
    """Base class of every error caused by input, configuration or files the user gave."""


class DataError(PtftError):
    """Unreadable, missing or inconsistent data (names the file and, where it can, the line)."""


class ConfigError(PtftError):
    """Unknown key, wrong type or impossible combination of options."""


class BundleError(PtftError):
    """A run folder that is missing, incomplete, corrupt or of an unknown format."""


class RunInterrupted(PtftError):
    """A run stopped early (SIGTERM / pre-emption) after saving a resumable checkpoint."""
