"""Entry point of the `lstm-sym` command (the commands layer does the work)."""
import sys

from .commands import entry as main

if __name__ == "__main__":
    sys.exit(main())
