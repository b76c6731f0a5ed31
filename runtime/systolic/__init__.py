"""The systolic-array device model: the cycle model (`cycles`) and the ISA simulator (`simulator`)."""
