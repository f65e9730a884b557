"""Infrastructure every layer uses: the user-error type (`errors`), artifact manifests and
atomic writes (`artifacts`), directory locks (`locks`), JSONL reading (`jsonl`), progress bars
(`progress`) and the bounded thread pool (`threads`). Nothing here imports a stage package."""
