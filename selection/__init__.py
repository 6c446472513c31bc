"""Every AMPO selection strategy behind one batched API (numpy and torch)."""
