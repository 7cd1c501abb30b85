"""The local stack without Docker: Kafka from Maven Central jars, a private PostgreSQL
cluster, an SMTP inbox, and every BillPort service as its own process."""
