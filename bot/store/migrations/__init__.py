"""Alembic migrations for the LaunchPad store (run by `launchpad db upgrade`)."""
