"""The command line: ``python -m toycoin node --help`` (see toycoin.cli)."""

import sys

from toycoin.cli import main

if __name__ == "__main__":
    sys.exit(main())
