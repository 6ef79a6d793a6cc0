"""dealrisk package."""
