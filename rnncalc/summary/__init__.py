"""``rnncalc summary``: rendering the analysis as tables."""
