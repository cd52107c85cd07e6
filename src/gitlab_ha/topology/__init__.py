"""Topology: the cluster model (pydantic), role vocabulary, presets and validation.

Knows nothing of files on disk beyond loading the YAML topology, and nothing of processes.
"""
