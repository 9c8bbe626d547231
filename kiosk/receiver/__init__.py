"""Reference back-end receiver: verifies, stores exactly once, sends receipts."""
