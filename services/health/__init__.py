"""health: turns samples into camera state and faults; one repair ticket per fault (Art. 4)."""
