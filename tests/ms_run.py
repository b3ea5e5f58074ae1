"""Run MindIR files in MindSpore itself, in a child process: python tests/ms_run.py JOBS.json -> JSON on stdout.

JOBS.json is a list of {"mindir": path, "inputs": [npy paths], "expected": [npy paths]};
the answer lists, per job, either {"max_abs": [...], "shapes": [...]} or {"error": text}.
A child process keeps MindSpore's import, threads and logging out of the test process.
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("GLOG_v", "3")


def main() -> int:
    import numpy as np
    import mindspore as ms
    from mindspore import nn

    ms.set_context(mode=ms.GRAPH_MODE, device_target="CPU")
    jobs = json.loads(open(sys.argv[1]).read())
    results = []
    for job in jobs:
        try:
            net = nn.GraphCell(ms.load(job["mindir"]))
            outs = net(*[ms.Tensor(np.load(p)) for p in job["inputs"]])
            outs = outs if isinstance(outs, (tuple, list)) else (outs,)
            arrays = [o.asnumpy() for o in outs]
            expected = [np.load(p) for p in job["expected"]]
            results.append({
                "shapes": [list(a.shape) for a in arrays],
                "max_abs": [float(np.abs(a.astype(np.float64) - e.astype(np.float64)).max()) for a, e in zip(arrays, expected)],
                "scale": [float(max(1.0, np.abs(e).max())) for e in expected],
            })
        except Exception as exc:  # report, keep going with the other files
            results.append({"error": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"})
    print("RESULT " + json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
