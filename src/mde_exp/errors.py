"""Errors a user can cause: each carries one clear line for the command line to print."""


class UserError(Exception):
    """A mistake in the user's input, reported as one line and a non-zero exit before any work."""


class ConfigError(UserError):
    """A composed configuration that names an impossible or unknown setting."""


class DataNotFoundError(UserError):
    """A data set whose files are not where the configuration says."""


class CorruptDataError(UserError):
    """A data file that exists but cannot be read as its format says."""
