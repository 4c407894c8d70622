"""Pydantic schemas of the NEF northbound APIs, with the exact 3GPP attribute names.

Every model tolerates unknown attributes (``extra="allow"``) and takes 3GPP extensible enums as
plain strings: the known values are listed in the field descriptions, others are kept, not refused.
"""
