-- `usage.recorded` payloads run to a megabyte (5,000 days) and live for milliseconds: lz4 instead
-- of pglz to compress them (the default cost PostgreSQL several microseconds of CPU per day).
ALTER TABLE outbox ALTER COLUMN payload SET COMPRESSION lz4;
