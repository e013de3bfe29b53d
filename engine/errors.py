"""Errors a user can cause. Each carries one readable line; the CLI prints it and exits 2,
the window shows it in words. Anything else that escapes is a bug."""


class BabysitError(Exception):
    """Base class for mistakes in user input (flags, config files, data files)."""


class ConfigError(BabysitError, ValueError):
    """A run configuration value is missing, of the wrong type or out of range."""


class DataError(BabysitError, ValueError):
    """A dataset cannot be built or a data file cannot be read."""
