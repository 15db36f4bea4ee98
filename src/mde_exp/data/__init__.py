"""LightningDataModules for the book's data sets, by kind (vision, tabular, synthetic, text, graphs, rl)."""
