"""Fuzz harness: seeded mutants of the fixtures run through load, inspect and convert in child processes."""
