"""Failure drills: inject a failure, measure the outage and the data lost."""
