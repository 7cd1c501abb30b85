"""Notifier service: invoice documents and e-mail."""
