"""notify: routes alerts by zone, roster and severity to the people on duty (Art. 13)."""
