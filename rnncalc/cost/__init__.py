"""``rnncalc cost``, ``solve`` and ``sweep``: compute and memory, budgets, grids."""
