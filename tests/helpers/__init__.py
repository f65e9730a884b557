"""Helpers shared by the tests (tiny models, mixtures, recipes, report fixtures, test data)."""
