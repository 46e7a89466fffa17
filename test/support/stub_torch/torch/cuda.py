def is_available():
    return False


def get_device_capability(device=None):
    return (9, 0)
