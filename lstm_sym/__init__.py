"""lstm-sym: symbolic BPTT for recurrent cells, printed, generated, proven."""
# Names load on first use (PEP 562), so that the command starts, and installs
# its signal handlers, before SymPy is imported.
_NAMES = {"Derivation": "derivation", "derive": "derivation", "Cell": "ir", "sigmoid": "activations",
          "tanh": "activations", "relu": "activations", "softsign": "activations",
          "activation": "activations"}

__all__ = ["Cell", "Derivation", "derive", "sigmoid", "tanh", "relu", "softsign", "activation"]
__version__ = "0.1.0"


def __getattr__(name):
    if name in _NAMES:
        import importlib
        value = getattr(importlib.import_module(f".{_NAMES[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'lstm_sym' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
