"""The relay core: chat lifecycle, delivery, tokens and the state it keeps; no web code."""
