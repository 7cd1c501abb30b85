"""Shared test fixtures. Integration tests get a real Kafka broker and a real PostgreSQL,
started once for the session in `.local/test` on their own ports, and stopped after."""
