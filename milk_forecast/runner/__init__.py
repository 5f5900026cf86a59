"""Runner layer: the four stages run by papermill into run folders, with lock, schedule, history and report."""
