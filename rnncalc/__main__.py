"""``python -m rnncalc``."""

from rnncalc.cli import main

if __name__ == "__main__":
    main()
