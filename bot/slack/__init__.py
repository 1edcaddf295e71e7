"""Slack surface: thin listeners and pure Block Kit view builders."""
