"""Forges deliver change sets as one branch, one commit and one pull request per repository.

`LocalForge` (bare git repositories on disk, the embedded default) and `GitHubForge` (PyGithub)
implement the `Forge` protocol; `ForgeRouter` picks the GitHub forge per credential and
`StaticForgeRouter` serves a single forge. Import the GitHub side from its modules.
"""

from provisioners.forge.base import Change, ChangeState, Forge, branch_for
from provisioners.forge.local import LocalForge

__all__ = ["Change", "ChangeState", "Forge", "LocalForge", "branch_for"]
