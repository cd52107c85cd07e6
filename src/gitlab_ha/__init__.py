"""gitlab-ha: build, rehearse, check and operate a highly available multi-node Omnibus GitLab."""

__version__ = "0.1.0"
