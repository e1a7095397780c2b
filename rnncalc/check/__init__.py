"""``rnncalc check``: expectations and budgets, and the cross-check against real frameworks."""
