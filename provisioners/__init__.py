"""Turn a ServiceSpec into change sets for each target repository, and deliver them through a forge.

This package never imports `bot`: it is the pure, reusable half of LaunchPad.
"""
