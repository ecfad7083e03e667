"""Classes that turn on the line tracer (crosscheck/student/tracer.py), each with a real bug (the gradient summed
over the batch) so that their backprop is traced after the gradients check fails. The FAIL must stand, with a note
saying why no line is named; the harness must not hang or crash."""

import sys

import numpy as np

from softmax_net import SoftmaxNetwork


class Summed(SoftmaxNetwork):
    """The bug every class here shares: the output error is not divided by the batch size."""

    def output_delta(self, z_last, a_last, y):
        return a_last - y


class InstallsItsOwnTracer(Summed):
    """Replaces whatever tracer is installed with its own, every time backprop runs."""

    def backprop(self, x, y):
        sys.settrace(lambda frame, event, arg: None)
        try:
            return super().backprop(x, y)
        finally:
            sys.settrace(None)


class HangsWhenTraced(Summed):
    """Loops forever when it sees a tracer."""

    def backprop(self, x, y):
        while sys.gettrace() is not None:
            pass
        return super().backprop(x, y)


class ForgesTheTrace(Summed):
    """Patches the tracer in its own process so that the trace it sends back is garbage."""

    def backprop(self, x, y):
        tracer = sys.modules.get("crosscheck.student.tracer")
        if tracer is not None:
            tracer.Trace.to_wire = lambda trace: ({"bindings": [["no"]], "frames": 7}, [np.zeros(3)])
        return super().backprop(x, y)


class FloodsTheTracer(Summed):
    """Makes thousands of arrays of a traced shape in backprop: the tracer's caps must hold."""

    def backprop(self, x, y):
        nabla_b, nabla_w = super().backprop(x, y)
        kept = []
        for i in range(6000):
            kept.append(nabla_b[-1] * (1 + i))
            if len(kept) > 50:
                kept.pop(0)
        return nabla_b, nabla_w
