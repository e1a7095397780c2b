"""The pure core: spec, model, calculator, report values and units. Imports no framework."""
