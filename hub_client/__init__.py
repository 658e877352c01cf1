"""The worker's side of the hub: find, fetch, verify, install and report usage; publish-mode
synthesis; the clients' commands. Imports nothing of the server (``hub_index``)."""
