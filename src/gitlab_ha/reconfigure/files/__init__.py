"""The data-tier files reconfigure writes, one module per component."""

from gitlab_ha.reconfigure.files.base import NodeInput, OmnibusFile

__all__ = ["NodeInput", "OmnibusFile"]
