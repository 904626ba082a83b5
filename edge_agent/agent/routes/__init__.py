"""agent/routes."""
