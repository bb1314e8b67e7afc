"""Attaching the suite to an OpenAI Realtime session."""
