"""Storage layer: git (GitPython and the git CLI), YAML (ruamel round-trip), JSONL shards."""
