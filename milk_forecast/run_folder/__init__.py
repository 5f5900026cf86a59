"""The run folder layer: the format of ``runs/`` and of one run folder, read and written here.

``layout`` names every file and says where it lives; ``files`` reads without trusting
(bounded, regular files only, never outside the runs folder, never blocking) and writes
atomically; one module per artefact holds its reader and its writer: ``record``
(run.json), ``latest`` (LATEST), ``publications`` (publications.jsonl), ``predictions``
(predictions.json) and ``metrics`` (metrics.json); ``servable`` decides, once, whether a
run may be served: the publisher and the service both ask it. Standard library only: the
service imports this layer and nothing heavier.
"""
