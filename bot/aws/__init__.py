"""AWS operations: IAM console password reset and domain-to-resources lookup."""
