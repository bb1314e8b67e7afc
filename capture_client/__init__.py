"""The capture client: runs on the user's machine, connects out to the hub, captures and points.

It shares only the wire models (`wire`) with the servers and never imports `servers`.
"""

__version__ = "0.1.0"
