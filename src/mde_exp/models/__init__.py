"""LightningModules, one per book model, by chapter."""
