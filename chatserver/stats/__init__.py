"""Anonymous volume statistics: counters, roll-up, reports and disclosure control."""
