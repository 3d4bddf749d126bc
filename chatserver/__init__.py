"""Erstkontakt chat server: an anonymous, end-to-end encrypted first-contact relay."""

__version__ = "0.1.0"
