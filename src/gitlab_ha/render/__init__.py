"""Renderers: one module per role turning the topology and secrets into config text."""
