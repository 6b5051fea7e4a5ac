"""Provisioning: the Dialpad client against a fake Dialpad, and the provisioning mutations."""
