"""UE agents: register, download, train on local images, upload within the deadline."""
