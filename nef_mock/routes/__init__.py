"""HTTP routes of the NEF mock: the 3GPP northbound APIs, CAPIF security, and the emulator API."""
