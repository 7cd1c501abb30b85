"""Database helpers: pool, migrations, transactional outbox, processed-events table."""
