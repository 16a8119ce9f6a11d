"""Built-in passes, registered through the same plugin hooks third-party plugins use."""
