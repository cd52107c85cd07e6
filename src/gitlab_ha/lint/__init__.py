"""Lint rules for hand-written multi-node gitlab.rb sets."""
