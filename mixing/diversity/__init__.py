"""How diverse a mixture is: `measure` (the whole report, `codemix diversity`), `lexical`
(tasks, distinct-n, n-gram entropy, lengths), `semantic` (pairwise distance, Vendi score,
clusters, proximity to benchmarks), `embeddings` (model specs and the offline TF-IDF fallback)
and `map` (the 2-D picture). Heavy libraries load inside these modules, on first use."""
