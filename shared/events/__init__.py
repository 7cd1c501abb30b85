"""Event schemas, one module per producing context; topics in `topics`."""
