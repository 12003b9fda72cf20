"""audit: the append-only, hash-chained, Merkle-tree record of every event and every access to
footage (Art. 3, 11, 15, 16), with signed checkpoints, proofs and an offline checker."""
