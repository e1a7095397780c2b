"""Readers for config files and Keras model JSON; errors name file, line and key."""
