"""`python -m slm_edge.runner CONFIG.json`: the device-side runner for Linux (see loop.py)."""

import sys

from slm_edge.runner.loop import main

sys.exit(main())
