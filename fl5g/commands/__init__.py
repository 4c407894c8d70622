"""Sub-commands of the ``fl5g`` command line, each with a ``register(app)``."""
