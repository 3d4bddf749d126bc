"""Administration: the user and key commands and demo-mode seeding."""
