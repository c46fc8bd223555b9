"""`python -m mitdeeplearning` is the `mitdl` command."""

import sys

from .cli import main

sys.exit(main())
