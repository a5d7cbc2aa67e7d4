"""`python -m load <scenario> [options]`: run a benchmark scenario and write its report."""

import sys

from load.cli import main

sys.exit(main())
