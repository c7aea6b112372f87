"""NumPy code generation: a derived cell becomes one stand-alone module.

    emit(cell)      the module's source (imports only numpy)
    compile(cell)   the module itself, importable in-process
"""
from __future__ import annotations

import builtins
import linecache
import types

from .emit import emit

__all__ = ["emit", "compile", "numeric_files"]


def compile(cell, complex_safe=False, dtype="float64"):
    """The generated module for `cell` (a Cell, a built-in name or a
    Derivation), executed in-process: module.forward, module.backward, ..."""
    source = emit(cell, complex_safe=complex_safe, dtype=dtype)
    name = getattr(getattr(cell, "cell", cell), "name", str(cell))
    filename = f"<lstm_sym.codegen {name}{' complex-safe' if complex_safe else ''}>"
    module = types.ModuleType(f"lstm_sym_generated_{name}")
    module.__file__ = filename
    # register the source so that tracebacks show the generated lines
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(builtins.compile(source, filename, "exec"), module.__dict__)
    return module


def numeric_files():
    """numeric/<cell>.py for every built-in cell: name -> source."""
    from ..cells import NAMES
    return {f"{name}.py": emit(name) for name in NAMES}
