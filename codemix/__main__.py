"""`python -m codemix ...`: the same as the `codemix` console script."""

import sys

from codemix.recipes.cli import main

if __name__ == "__main__":
    sys.exit(main())
