"""Invoicing service: the catalog and the invoices."""
