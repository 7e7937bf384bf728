"""The agent and supervisor console: the pages an agent works in for a whole shift."""
