"""Forges deliver change sets as one branch, one commit and one pull request per repository."""

from provisioners.forge.base import Change, ChangeState, Forge

__all__ = ["Change", "ChangeState", "Forge"]
