"""Ember's GPU benchmark (one prepared device script): see README.md and run.py."""
