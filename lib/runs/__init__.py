"""Runs: the run store (atomic folders), RunConfig, train-or-load, the study ladder,
comparison of stored runs, and models uploaded by the user."""
