"""The build sandbox: static gate, isolated workers, harness-owned compilation with a content-hash cache."""
