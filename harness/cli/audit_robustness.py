"""An ``medtune audit`` subcommand; filled in by its issue."""


def register(audit) -> None:
    pass
