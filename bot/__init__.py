"""The running application: Slack surface, workflow engine, state, AWS operations, CLI."""
