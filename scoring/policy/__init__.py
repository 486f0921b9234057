"""Contact-policy engine: rule packs, their pure rule functions, and lawful contact windows."""
