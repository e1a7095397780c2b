"""``rnncalc explain`` and ``rnncalc code``: equations with the model's numbers, runnable scripts."""
