"""A parser for the Ruby subset that gitlab.rb uses. It never executes Ruby."""
