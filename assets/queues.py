"""The worker queues of media steps, named by the op tag dagster-celery routes steps by.

CPU-heavy steps (encoding, encryption, thumbnails) have a queue of their own, so that a burst of
encodes never keeps the light steps of other videos waiting behind it.
"""

# dagster_celery.tags.DAGSTER_CELERY_QUEUE_TAG, spelled out: the assets run without Celery.
QUEUE_TAG = "dagster-celery/queue"
HEAVY = "media-heavy"
LIGHT = "media-light"
HEAVY_STEP = {QUEUE_TAG: HEAVY}
LIGHT_STEP = {QUEUE_TAG: LIGHT}
