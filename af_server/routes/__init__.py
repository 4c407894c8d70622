"""The AF's HTTP routes: UE-facing, operator-facing, NEF callbacks and health."""
