"""agent/decide."""
