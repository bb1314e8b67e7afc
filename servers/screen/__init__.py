"""The screen server: list displays, capture frames, zoom into them."""
