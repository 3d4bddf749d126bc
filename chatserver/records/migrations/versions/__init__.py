"""The schema revisions, oldest first: append only, a released revision is never edited."""
