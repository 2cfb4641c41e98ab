"""``python -m sentiment_app predict INPUT -o OUTPUT``: see :mod:`sentiment_app.cli`."""

import sys

from .cli import main

sys.exit(main())
