"""The BillPort services. Each is its own process; they never import each other."""
