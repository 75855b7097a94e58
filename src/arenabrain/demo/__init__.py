"""The demo and the served sandbox: one seeded world on a scaled clock (`world`), the service's
own jobs over simulated weeks (`timeline`, `simulation`), what they did (`summary`), and the
sandbox served with its start-up lines (`serving`); `run` is `arenabrain demo`."""
