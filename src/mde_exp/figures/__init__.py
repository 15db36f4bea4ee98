"""Plotting helpers shared by the recipes."""
