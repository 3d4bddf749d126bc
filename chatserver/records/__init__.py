"""Case records, accounts, codenames, hand-off: everything kept in the database."""
