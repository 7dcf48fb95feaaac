"""Starting the agent on a device: the launchers, Termux, provisioning, the doctor, leftovers of earlier runs."""
