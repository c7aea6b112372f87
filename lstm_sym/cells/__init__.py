"""Built-in cells.  Each module builds its Cell at import."""
from importlib import import_module

NAMES = ("rnn", "lstm", "gru")


def get_cell(name):
    if name not in NAMES:
        raise KeyError(f"unknown cell {name!r}; the built-in cells are: {', '.join(NAMES)}")
    return import_module(f"{__name__}.{name}").cell
