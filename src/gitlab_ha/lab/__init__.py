"""The lab: the cluster's HA data tier run for real on one machine."""
