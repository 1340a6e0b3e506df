"""``python -m dlmath`` runs the command line."""

import sys

from dlmath.cli import main

sys.exit(main())
