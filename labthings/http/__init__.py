"""The Flask adapter: routes, request parsing and problem responses over the core."""
