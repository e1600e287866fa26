"""The command line: ``python -m toycoin node --help`` (see toycoin.process)."""

import sys

from toycoin.process import main

if __name__ == "__main__":
    sys.exit(main())
