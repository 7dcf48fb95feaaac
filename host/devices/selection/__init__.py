"""Which devices a command uses: named, every ready one, STF reservations, reconnects, the host-side lock."""
