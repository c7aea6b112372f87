"""`python -m lstm_sym` is the `lstm-sym` command."""
import sys

from .commands import entry

sys.exit(entry())
