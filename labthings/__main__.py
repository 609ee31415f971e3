"""`python -m labthings`: the same as the `labthings` command."""

import sys

from labthings.serving.cli import main

sys.exit(main())
