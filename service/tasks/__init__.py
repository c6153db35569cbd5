"""The tasks the core serves, one file each; :mod:`.base` holds the contract they share."""
