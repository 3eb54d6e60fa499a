"""Detection: from attention maps to ranked PVS candidates."""
