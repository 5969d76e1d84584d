"""The supervisor: process lifecycle, restart policy, health, logs, control socket, CLI."""
