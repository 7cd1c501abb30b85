"""The `billport` command line: operator tasks (polling Starlink usage, later billing runs) run
from a shell or a scheduler against a running gateway."""
