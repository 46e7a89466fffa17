reorderable_logging_functions = set()
