"""Compares tqf's logits for a token sequence with a logits file (n_ids x
n_vocab f32, from llama_logits), position by position.

usage: compare_logits.py MODEL.tqf LOGITS.f32 IDS_FILE {same|differ} TOL
  same    pass when max |tqf - file| <= TOL at every position
  differ  pass when max |tqf - file| >= TOL somewhere (the test's control:
          the comparison can fail)
Prints the largest difference and where, and the logits' scale.
"""
import sys

import numpy as np
import tqf

model, logits, ids_file, mode, tol = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5])
ids = [int(x) for x in open(ids_file).read().split()]
ref = np.fromfile(logits, dtype=np.float32).reshape(len(ids), -1)
got = np.asarray(tqf.Model(model, threads=1).logits(ids))
diff = np.abs(got.astype(np.float64) - ref).max(axis=1)
worst = int(diff.argmax())
print("max |diff| %.4g at position %d (first positions: %s; logits up to %.3g)" %
      (diff[worst], worst, " ".join("%.2g" % d for d in diff[:4]), np.abs(ref).max()))
ok = diff.max() <= tol if mode == "same" else diff.max() >= tol
sys.exit(0 if ok else 1)
