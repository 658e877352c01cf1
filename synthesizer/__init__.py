"""The producer side: turns a ``PluginSpec`` into a verified, installable plugin wheel."""
