"""Delivery of booking changes to the booking engine's webhook: events, signing, the worker."""
