"""Payments service: postings and reversals, with a double-entry ledger."""
