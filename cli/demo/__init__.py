"""`reelflow demo`: the whole platform on sample media, then the Dagster UI and the API.

Every step is safe to repeat, so a second demo reuses what the first one made:

1. the dev stack (the services that are not running) and the schema migrations;
2. demo accounts with fixed credentials: a creator, a subscriber, a free viewer and an admin;
3. the library: synthetic clips (ffmpeg lavfi sources) and the real clips of
   `../shared/data/media`, stored as the creator's finished uploads, as the upload API leaves them;
4. the media lifecycle of every video not published yet, one `media_lifecycle` run per partition;
5. generated watch events of the demo viewers and of returning viewers with tastes, for each
   recent day that has none of the demo's;
6. the viewing aggregates of the days not materialized yet, one `engagement_daily` run per day;
7. every unpartitioned asset (the recommendation models) when one is missing or new data came in;
8. the Dagster webserver and daemon and the API, until Ctrl-C stops what the demo started.

`seeding` makes the data (2, 3, 5), `lifecycle` the runs (4, 6, 7), `serving` the servers (8),
and `run` puts them in order.
"""

from cli.demo.run import DemoOptions, run_demo
from cli.demo.seeding import DEFAULT_DAYS, DEFAULT_VIEWERS

__all__ = ["DEFAULT_DAYS", "DEFAULT_VIEWERS", "DemoOptions", "run_demo"]
