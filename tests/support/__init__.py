"""Local stand-ins for remote services (GitHub, Slack) that tests run real clients against."""
