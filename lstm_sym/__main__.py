"""`python -m lstm_sym` is the `lstm-sym` command."""
import sys

from .cli import main

sys.exit(main())
