"""`make bench`: performance figures, one line each: `BENCH <name> <value> <unit>`."""
