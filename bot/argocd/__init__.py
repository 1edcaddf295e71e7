"""Following deployments: Argo CD's API (client.py) and the HTTPS probe of a live domain (probe.py)."""
