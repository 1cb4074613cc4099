"""`python -m eigenfast` is the `eigenfast` command."""

import sys

from eigenfast.cli import main

sys.exit(main())
