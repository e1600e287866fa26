"""The command line: ``python -m toycoin node --help`` (see toycoin.cli)."""

import sys

from toycoin.cli import main
from toycoin.room import ROOM_COMMAND

if __name__ == "__main__":
    sys.exit(main(extra=[ROOM_COMMAND]))
