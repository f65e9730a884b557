"""`codemix report` and `codemix compare`: `data` (reading cells and results), `study` (a
sweep's cells and groups), `analysis` (paired comparisons), `stats` and `curve` (bootstrap,
McNemar, Holm, best-ratio fits), `tables`, `plots`, `write` (report.md / report.json / PNGs),
`single` (one run's summary), `diversity` (diversity sections) and `markov` (the string-rewrite
figure script: `python -m codemix.recipes.report.markov SWEEP`)."""
