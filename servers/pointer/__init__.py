"""The pointer server: point at (or highlight) what the model saw in a frame."""
