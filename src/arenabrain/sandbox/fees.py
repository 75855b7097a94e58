"""The trading fees a Bags token earns its fee claimer over simulated time (sandbox only).

A token trades every hour; the lamports traded in an hour are a function of the world's seed,
the token and the hour alone: a daily mean, a day-to-day swing (some days the token is popular),
a daily rhythm (busier in American and European hours) and hourly bursts. The claimer earns
`fee_bps` of each hour's volume. So the fees earned by any moment are one number, the same
for a seed whoever asks and however often; the Bags emulator credits what was earned since it
last looked before each request (`bags.accrue_fees`)."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import datetime

DAY_SWING = 0.4  # spread of the day-to-day popularity factor (log scale)
HOUR_BURST = 0.9  # spread of the hourly bursts (log scale)
RHYTHM = 0.5  # how much busier the busiest hour is than the mean


@dataclass
class FeeAccrual:
    """Fees earned by `wallet` on `mint` from `started`: `fee_bps` of the token's trading,
    which averages `daily_volume_lamports` a day."""

    seed: int
    wallet: str
    mint: str
    kind: str
    started: datetime
    daily_volume_lamports: int
    fee_bps: int
    credited: int = 0  # lamports already credited to the claimable position
    _cumulative: list[int] = field(default_factory=lambda: [0], repr=False)

    def hourly_volume(self, hour: int) -> int:
        """Lamports traded in the `hour`-th hour since `started`."""
        day = random.Random(f"{self.seed}:bags-day:{self.mint}:{hour // 24}")
        burst = random.Random(f"{self.seed}:bags-hour:{self.mint}:{hour}")
        popularity = math.exp(day.gauss(-(DAY_SWING**2) / 2, DAY_SWING))
        spike = math.exp(burst.gauss(-(HOUR_BURST**2) / 2, HOUR_BURST))
        hour_of_day = (self.started.hour + hour) % 24
        rhythm = 1 + RHYTHM * math.sin(2 * math.pi * (hour_of_day - 9) / 24)
        return int(self.daily_volume_lamports / 24 * popularity * rhythm * spike)

    def earned(self, moment: datetime) -> int:
        """Fees earned from `started` to `moment` (the current hour pro rata)."""
        hours = max((moment - self.started).total_seconds(), 0.0) / 3600
        whole = int(hours)
        while len(self._cumulative) <= whole + 1:
            hour = len(self._cumulative) - 1
            fee = self.hourly_volume(hour) * self.fee_bps // 10_000
            self._cumulative.append(self._cumulative[-1] + fee)
        current = self._cumulative[whole + 1] - self._cumulative[whole]
        return self._cumulative[whole] + int(current * (hours - whole))
