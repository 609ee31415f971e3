"""`python -m labthings`: the same as the `labthings` command."""

import sys

from labthings.cli import main

sys.exit(main())
