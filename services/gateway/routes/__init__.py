"""Gateway routes, one module per area of the API contract."""

API_PREFIX = "/api/v1"
"""Where the public API lives; each area's router carries it (routers are mounted flat on the
app, `shared.routes.mount`, never included in one another)."""
