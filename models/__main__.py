"""``python -m models``: the ``stepgrad`` command line."""
import sys

from models.start import main

sys.exit(main())
