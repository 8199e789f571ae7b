"""``python -m models``: the ``stepgrad`` command line."""
import sys

from models.cli import main

sys.exit(main())
