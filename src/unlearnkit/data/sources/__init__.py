"""Dataset sources: each reads data where a package installed it (never downloads)."""
