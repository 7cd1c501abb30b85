"""Usage service: Starlink usage snapshots in, exact daily usage per service line out."""
