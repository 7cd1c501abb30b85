"""Public API models shared by the gateway (validation, OpenAPI) and the owning service."""
