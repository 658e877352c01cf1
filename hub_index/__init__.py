"""The hub: private package index, metadata database, signing and trust policy."""
