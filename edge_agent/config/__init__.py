"""Settings: one pydantic-settings tree. Owns nothing else and imports nothing else of edge-agent."""

from edge_agent.config.settings import Settings, load_settings

__all__ = ["Settings", "load_settings"]
