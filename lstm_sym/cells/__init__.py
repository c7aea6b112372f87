"""Built-in cells, and cells from a user's file.  Each built-in module builds
its Cell at import."""
from __future__ import annotations

import importlib.util
import os
from importlib import import_module

NAMES = ("rnn", "lstm", "gru", "lstm_peephole", "cifg", "gru_cho", "mgu", "lstm_nofg")


def get_cell(name):
    if name not in NAMES:
        raise ValueError(f"unknown cell {name!r}; the built-in cells are: {', '.join(NAMES)}")
    return import_module(f"{__name__}.{name}").cell


def load_cell(spec):
    """A cell from a built-in name, a .py file defining `cell`, or a .cell
    text spec (parsed, never executed)."""
    from ..ir import Cell
    if isinstance(spec, Cell):
        return spec
    if spec in NAMES:
        return get_cell(spec)
    if spec.endswith(".cell"):
        from ..spec import load_spec
        return load_spec(spec)
    if spec.endswith(".py"):
        return _from_python(spec)
    if os.path.exists(spec):
        raise ValueError(f"{spec}: a cell file must end in .py (defining `cell`) or .cell (a text spec)")
    raise ValueError(f"unknown cell {spec!r}: not a built-in ({', '.join(NAMES)}) and no such file")


def _from_python(path):
    """Run the user's own file (as pytest runs a conftest) and take its `cell`."""
    from ..ir import Cell
    if not os.path.isfile(path):
        raise ValueError(f"{path}: no such file" if not os.path.isdir(path) else f"{path}: is a folder")
    name = "lstm_sym_user_cell_" + "".join(ch if ch.isalnum() else "_" for ch in os.path.basename(path)[:-3])
    loader = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(loader)
    try:
        loader.loader.exec_module(module)
    except (Exception, SystemExit) as e:      # SystemExit: scripts that exit after a demo
        raise ValueError(f"{path}: importing it failed: {type(e).__name__}: {e}") from e
    cell = getattr(module, "cell", None)
    if not isinstance(cell, Cell):
        got = "no module-level `cell`" if cell is None else f"`cell` is a {type(cell).__name__}"
        raise ValueError(f"{path}: {got}; define cell = lstm_sym.Cell(...) at module level")
    return cell.check()


def builtin_name(cell):
    """The built-in name of `cell` when it is that built-in cell, equation for
    equation (a user's file may reuse a name for another cell); else None."""
    name = getattr(cell, "name", cell)
    if name in NAMES and (isinstance(cell, str) or cell == get_cell(name)):
        return name
    return None
