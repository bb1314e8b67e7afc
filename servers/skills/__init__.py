"""The skills server: Agent Skills markdown served to a model on demand."""
