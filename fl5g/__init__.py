"""The fl5g command line and the launcher that runs the services as processes on loopback."""
