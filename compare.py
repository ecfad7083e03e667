#!/usr/bin/env python3
"""python compare.py --task 3 : cross-check the NumPy reference (or --student file.py:Class) against torch."""

import sys

from crosscheck.cli import main

if __name__ == "__main__":
    sys.exit(main())
