"""What the BillPort services share: event schemas, money, settings, Kafka and database helpers."""
