"""Structured logging shared by every splitd process; imports nothing of the project."""
