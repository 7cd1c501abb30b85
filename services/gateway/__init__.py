"""Gateway: the one public door. Auth, roles, organization scoping, the API and the web page."""
