import numpy as np


class Network:
    def __init__(self, sizes)
        self.sizes = sizes
