"""lstm-sym: symbolic BPTT for recurrent cells, printed, generated, proven."""
from .derive import Derivation, derive
from .ir import Cell
from .activations import sigmoid, tanh, relu, softsign, activation

__all__ = ["Cell", "Derivation", "derive", "sigmoid", "tanh", "relu", "softsign", "activation"]
__version__ = "0.1.0"
