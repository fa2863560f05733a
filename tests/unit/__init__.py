"""Pure tests: handshake, frames, checks, the case catalogue, targets and browser checks on bytes, option parsing."""
