import numpy as np
from lab_helpers import load_mnist  # a helper the student forgot to submit

from lab_base import Network


class MyNetwork(Network):
    pass
