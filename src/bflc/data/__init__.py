"""Bundled datasets (see FEMNIST.md for the FEMNIST subset and its credits)."""
