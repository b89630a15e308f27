"""User-facing errors: the CLI prints them as one line and exits with code 2."""


class MedtuneError(Exception):
    """A problem with the user's input (file, field, name); printed without a traceback."""


class DataError(MedtuneError):
    """Malformed data file; the message names file:line and field."""

    def __init__(self, path, line: int | None, message: str):
        where = f"{path}:{line}" if line is not None else f"{path}"
        super().__init__(f"{where}: {message}")
        self.path, self.line = path, line


class ConfigError(MedtuneError):
    """A config/suite/recipe/policy file is invalid; the message names the file and field."""
