"""Synthetic reward landscapes, Monte-Carlo checks of the paper's claims and the selection ILP."""
