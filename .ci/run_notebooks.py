"""Execute notebooks with the evcxr kernel and fail on anything a reader would call broken.

evcxr reports a `?` error or a panic as stderr text and carries on, so a clean exit of the
kernel proves nothing: every cell's outputs are scanned as well.
"""
import os
import sys
import time

import nbformat
from nbclient import NotebookClient

failed = []
for path in sys.argv[1:]:
    started = time.time()
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    # No timing metadata: the executed notebooks are committed and must be reproducible.
    client = NotebookClient(nb, kernel_name="rust", timeout=1800, startup_timeout=120, record_timing=False,
                            resources={"metadata": {"path": os.path.dirname(os.path.abspath(path))}})
    try:
        client.execute()
    except Exception as e:  # a compile error or a panic with preserve_vars_on_panic 0
        failed.append(f"{path}: {str(e).splitlines()[0] if str(e) else type(e).__name__}")
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            text = out.get("text", "") if out.get("output_type") == "stream" else ""
            if out.get("output_type") == "error":
                failed.append(f"{path} cell {i}: error {out.get('ename')}: {out.get('evalue')}")
            elif out.get("name") == "stderr" and text.strip():
                failed.append(f"{path} cell {i}: stderr: {text.strip()[:300]}")
    nbformat.write(nb, path)
    print(f"{path}: {time.time() - started:.0f} s", flush=True)

if failed:
    print("\n".join(["notebook failures:"] + failed), file=sys.stderr)
    sys.exit(1)
