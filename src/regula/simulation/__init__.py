"""The policy simulator: a seeded discrete-event simulation of a UF that runs regula's own priority, optimizer and
backfill against FIFO at equal capacity, without touching the operational database."""
