"""Built-in capabilities, registered through this distribution's ``planexe.plugins`` entry
points exactly like third-party plugins (so they are found, ranked and loaded the same way)."""
