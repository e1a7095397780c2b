"""``rnncalc verify``: the real forward pass against the numpy reference."""
