"""``python -m wskit``: the command-line tool (see wskit.cli)."""

import sys

from .cli import main

sys.exit(main())
