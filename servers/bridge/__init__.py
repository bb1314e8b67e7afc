"""The Realtime bridge: the suite holds a sideband WebSocket to each Realtime call it serves, and
puts frames in front of the model (see DESIGN.md, "Getting a frame in front of a Realtime model")."""
