"""The run folder layer: the format of ``runs/`` and of a run folder, read and written here.

``layout`` names every file; ``files`` reads without trusting; one reader per artefact
(``record``, ``publication``, ``predictions``, ``metrics``); ``servable`` decides once
whether a run may be served; ``write`` holds every writer. Standard library only: the
service reads through this layer and imports nothing heavier.
"""
