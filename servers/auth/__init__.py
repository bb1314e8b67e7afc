"""Bearer tokens: minting, verification, and how the servers enforce them."""
